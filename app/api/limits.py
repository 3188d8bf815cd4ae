"""Rate limits on password guesses (Flask-Limiter): logins per client address and per
username, share-link passwords per client address and per link.

Both take LOGIN_RATE_LIMIT. A limit is checked before its view runs, so that once it is
reached no password hash (scrypt) is computed, and answered 429 with Retry-After. Every
view that takes a link's password (the link, its thumbnail) counts on the same limits:
a guess through one is a guess through all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from app.errors import AppError
from app.http.bodies import json_body
from app.metadata.accounts import token_digest
from app.metadata.shares import SHARE_ID_LENGTH

# The API's login and the web app's login form share one limit.
LOGIN_VIEWS = ("api.login", "web.login_submit")
SHARE_VIEWS = ("shares.open_share", "shares.share_thumbnail")
# The answers of a share link that a guess gets: no password, or a wrong one.
GUESS_CODES = {401: "missing_credentials", 403: "wrong_password"}


def _username() -> str:
    # The view's own decoder and limit: a body it refuses counts under no username, and
    # the view answers why.
    if request.mimetype == "application/x-www-form-urlencoded":
        name = request.form.get("username")
    else:
        try:
            name = json_body().get("username")
        except AppError:
            name = None
    return f"user:{name}" if isinstance(name, str) else "user:"


def _share_link() -> str:
    # The token opens the link: the counters' storage (maybe a shared Redis) sees only
    # the start of its hash, the id the link is listed under.
    token = (request.view_args or {}).get("token", "")
    return f"share:{token_digest(token)[:SHARE_ID_LENGTH]}"


def _is_password_guess(response: Response) -> bool:
    """Count only failed password attempts: a link's right answers are not limited.
    A JSON answer says its code; the recipient's page (HTML) leaves it in ``g``."""
    code = GUESS_CODES.get(response.status_code)
    if code is None:
        return False
    if g.get("share_refusal") is not None:
        return bool(g.share_refusal == code)
    body = response.get_json(silent=True)
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("code") == code


def _limit_views(
    app: Flask,
    limiter: Limiter,
    endpoints: tuple[str, ...],
    keys: tuple[Callable[[], str], ...],
    deduct_when: Callable[[Response], bool] | None = None,
) -> None:
    """Wrap each view in one limit per key, shared by all of ``endpoints``."""
    limit = app.config["LOGIN_RATE_LIMIT"]
    for endpoint in endpoints:
        view: Any = app.view_functions[endpoint]
        for key in keys:
            scope = f"{endpoints[0]}:{key.__name__}"
            view = limiter.shared_limit(limit, scope, key_func=key, deduct_when=deduct_when)(view)
        app.view_functions[endpoint] = view


def install_rate_limits(app: Flask) -> Limiter:
    """Wrap the login and share-link views in their limits; one Limiter per app, so
    tests never share counts."""
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=app.config["RATE_LIMIT_STORAGE"],
        headers_enabled=True,
    )
    _limit_views(app, limiter, LOGIN_VIEWS, (get_remote_address, _username))
    _limit_views(app, limiter, SHARE_VIEWS, (get_remote_address, _share_link), _is_password_guess)
    return limiter
