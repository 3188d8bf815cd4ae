"""Who is calling: the user behind a request, for every front end over a user's files.

A request proves who it is with a bearer token (``Authorization: Bearer``, the API's way)
or with the web app's session cookie (``app.http.session_cookie``), which on a
state-changing request must come with the session's CSRF token; the service decides
whether the token is valid.
"""

from __future__ import annotations

from flask import g, request

from app.errors import Forbidden
from app.http.session_cookie import COOKIE_NAME, SAFE_METHODS, has_valid_csrf
from app.security import CLUSTER_HEADER, bearer_token
from app.userfiles.current import user_files
from app.userfiles.interface import User


class CsrfFailed(Forbidden):
    code = "csrf_failed"


def request_token() -> str | None:
    """The token the request carries: its bearer token, else its session cookie."""
    if "token" not in g:
        header = request.headers.get("Authorization")
        if header is not None:
            g.token = bearer_token(header)
        else:
            g.token = request.cookies.get(COOKIE_NAME) or None
            g.by_cookie = g.token is not None
    token: str | None = g.token
    return token


def current_user() -> User:
    """The user of this request's token (401 without one; 403 csrf_failed for a cookie's
    state-changing request without its CSRF token)."""
    if "user" not in g:
        token = request_token()
        user = user_files().authenticate(token)
        if (
            g.get("by_cookie")
            and token is not None
            and request.method not in SAFE_METHODS
            and not has_valid_csrf(request, token)
        ):
            raise CsrfFailed("this request needs the page's CSRF token (X-CSRF-Token)")
        g.user = user
    found: User = g.user
    return found


def current_token() -> str:
    """The token the current user authenticated with (after ``current_user``)."""
    current_user()
    token: str = g.token
    return token


def require_admin() -> None:
    """Let an administrator, or the cluster (its secret, or loopback in open mode),
    through; 401 or 403 otherwise."""
    token = request_token()
    cluster_secret = request.headers.get(CLUSTER_HEADER)
    if g.get("by_cookie") and cluster_secret is None:
        current_user()  # a cookie's request: its CSRF check
    user_files().authorize_admin(token, cluster_secret, request.remote_addr or "")
