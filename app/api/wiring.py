"""The per-user API's wiring, called by the factory only: the rate limits on password
guesses (the service it calls is wired by ``app.userfiles.wiring``)."""

from __future__ import annotations

from flask import Flask

from app.api.limits import install_rate_limits


def init_app(app: Flask) -> None:
    """Limit password guesses (after the views exist: it wraps them)."""
    install_rate_limits(app)
