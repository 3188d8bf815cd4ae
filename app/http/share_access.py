"""How a request opens a share link: the password (``?password=`` or ``X-Share-Password``,
as curl sends it) or, from a browser that gave it once in the link's form, the grant
kept in a cookie scoped to that link's path, so that the password travels in no URL
(none in the access logs) and each preview request costs an HMAC, not a password hash.
"""

from __future__ import annotations

from flask import Request, request
from werkzeug.wrappers import Response

PASSWORD_HEADER = "X-Share-Password"
GRANT_COOKIE = "mdbx_share"


def share_password() -> str | None:
    return request.args.get("password") or request.headers.get(PASSWORD_HEADER) or None


def share_grant() -> str | None:
    return request.cookies.get(GRANT_COOKIE) or None


def set_share_grant(
    response: Response, request: Request, token: str, grant: str, lifetime: float
) -> None:
    """The cookie goes back only to this link's URLs (``/s/<token>`` and below it: the
    download, the thumbnail), is never readable by a script, and not sent by another
    site's subrequests."""
    response.set_cookie(
        GRANT_COOKIE,
        grant,
        max_age=int(lifetime),
        path=f"/s/{token}",
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",
    )
