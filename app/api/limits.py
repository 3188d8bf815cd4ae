"""Login rate limits (Flask-Limiter): per client address and per username."""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

LOGIN_VIEW = "api.login"


def _username() -> str:
    payload = request.get_json(silent=True)
    name = payload.get("username") if isinstance(payload, dict) else None
    return f"user:{name}" if isinstance(name, str) else "user:"


def install_login_limits(app: Flask) -> Limiter:
    """Wrap the login view in both limits; one Limiter per app, so tests never share counts."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=app.config["RATE_LIMIT_STORAGE"],
        headers_enabled=True,
    )
    limit = app.config["LOGIN_RATE_LIMIT"]
    view: Any = app.view_functions[LOGIN_VIEW]
    for key in (get_remote_address, _username):
        view = limiter.limit(limit, key_func=key)(view)
    app.view_functions[LOGIN_VIEW] = view
    return limiter
