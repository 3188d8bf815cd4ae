"""The web app's session cookie and the CSRF token that goes with it.

The cookie holds a session token (``UserFiles.login(..., web=True)``): HttpOnly (no
script reads it), SameSite=Lax (other sites' forms and fetches do not carry it),
Secure under TLS, and as long-lived as the session. A state-changing request made
with the cookie must also prove it comes from our own pages: the CSRF token, an HMAC
of the session token that the pages carry (``<meta name="csrf-token">``) and send back
in the ``X-CSRF-Token`` header or a ``csrf_token`` form field. It reveals nothing of
the session token and needs no storage.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Request
from werkzeug.wrappers import Response

COOKIE_NAME = "mdbx_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
# Methods that change nothing: no CSRF token asked for.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token_for(session_token: str) -> str:
    """The CSRF token of a session."""
    return hmac.new(session_token.encode(), b"mdbx csrf", hashlib.sha256).hexdigest()


def has_valid_csrf(request: Request, session_token: str) -> bool:
    """Whether the request carries the session's CSRF token (header or form field)."""
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        sent = request.form.get(CSRF_FIELD)
    return sent is not None and hmac.compare_digest(sent, csrf_token_for(session_token))


def set_session_cookie(response: Response, request: Request, token: str, lifetime: float) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=int(lifetime),
        path="/",
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        COOKIE_NAME, path="/", secure=request.is_secure, httponly=True, samesite="Lax"
    )
