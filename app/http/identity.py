"""Who is calling: the user behind a request, for every front end over a user's files.

A request proves who it is with a bearer token (``Authorization: Bearer``, the API's way)
or with the web app's session cookie (``app.http.session_cookie``); the service decides
whether either is valid.
"""

from __future__ import annotations

from flask import g, request

from app.security import CLUSTER_HEADER, bearer_token
from app.userfiles.current import user_files
from app.userfiles.interface import User


def current_user() -> User:
    """The user of this request's bearer token (401 without one)."""
    if "user" not in g:
        token = bearer_token(request.headers.get("Authorization"))
        g.user = user_files().authenticate(token)
        g.token = token
    user: User = g.user
    return user


def current_token() -> str:
    """The token the current user authenticated with (after ``current_user``)."""
    current_user()
    token: str = g.token
    return token


def require_admin() -> None:
    """Let an administrator's token, or the cluster (its secret, or loopback in open
    mode), through; 401 or 403 otherwise."""
    user_files().authorize_admin(
        bearer_token(request.headers.get("Authorization")),
        request.headers.get(CLUSTER_HEADER),
        request.remote_addr or "",
    )
