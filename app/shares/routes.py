"""The share-link front end, ``/s/<token>``, for whoever holds a link (no account).

One view decides by what the client asks for: a browser (``Accept`` prefers HTML) gets
the recipient's page (the file's name, size, a preview, "Download"; the password form
when the link needs one; a readable page for an expired, revoked or wrong link); curl
and every other client get the bytes as before, and so does ``?download=1``, the
link's download form. Its errors are JSON for those, and so is the rate limit's 429
(too many wrong passwords), which a browser gets as the page saying so.

The page's password form POSTs to the link: the password travels in no URL, and the
answer is a grant kept in a cookie scoped to the link (``app.http.share_access``).
"""

from __future__ import annotations

from flask import Blueprint, g, make_response, redirect, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import TooManyRequests as RateLimited

from app.errors import AppError, TooManyRequests
from app.http.blobs import send_download
from app.http.previews import send_thumbnail
from app.http.rendering import http_error_response
from app.http.share_access import set_share_grant, share_grant, share_password
from app.previews.thumbnails import valid_size
from app.shares.page import page_of, refusal_of
from app.userfiles.current import user_files
from app.userfiles.service import SHARE_GRANT_LIFETIME
from app.web.security_headers import add_page_headers

bp = Blueprint("shares", __name__, template_folder="templates")

# The link's answers a browser's page shows in place of the file (and the limits count).
PAGE_TYPES = ("application/octet-stream", "text/html")


def _wants_page() -> bool:
    """A browser's navigation: HTML preferred, and not the link's download form. curl
    sends ``*/*``, <img> and <video> want their types: all get the bytes."""
    if request.args.get("download") in ("1", "true", "yes"):
        return False
    best = request.accept_mimetypes.best_match(PAGE_TYPES, default=PAGE_TYPES[0])
    return best == "text/html"


@bp.route("/s/<token>", methods=["GET", "POST"])
def open_share(token: str) -> ResponseReturnValue:
    if request.method == "POST":
        return _unlock(token)
    if not _wants_page():
        return send_download(user_files().open_share(token, share_password(), grant=share_grant()))
    try:
        download = user_files().open_share(token, share_password(), grant=share_grant())
    except AppError as error:
        return _refused(token, error)
    return _page(render_template("share_page.html", **page_of(token, download)), 200)


@bp.get("/s/<token>/thumbnail")
def share_thumbnail(token: str) -> ResponseReturnValue:
    """A shared image's thumbnail (the page's preview); the link's password or grant as
    ``/s/<token>`` takes them, and its guesses count on the same limits."""
    size = valid_size(request.args.get("size"))
    download = user_files().open_share(token, share_password(), grant=share_grant())
    return send_thumbnail(download, size)


@bp.errorhandler(RateLimited)
def _rate_limited(exc: RateLimited) -> ResponseReturnValue:
    """Flask-Limiter's refusal, raised before the view: the page for a browser."""
    token = (request.view_args or {}).get("token")
    if request.endpoint != "shares.open_share" or not token or not _wants_page():
        return http_error_response(exc)
    waiting = TooManyRequests("Too many wrong passwords were tried: wait a minute, then try again.")
    page = render_template("share_page.html", **refusal_of(token, waiting))
    return _page(page, waiting.status)


def _unlock(token: str) -> ResponseReturnValue:
    """The password form's answer: back to the link (303) with its grant, or the form
    again saying why."""
    try:
        grant = user_files().unlock_share(token, request.form.get("password"))
    except AppError as error:
        return _refused(token, error)
    response = redirect(f"/s/{token}", code=303)
    set_share_grant(response, request, token, grant, SHARE_GRANT_LIFETIME - 60)
    return response


def _refused(token: str, error: AppError) -> ResponseReturnValue:
    # The rate limits count a wrong or missing password by its code (app.api.limits);
    # a browser's first look at a link, which asks for the password, guesses nothing.
    asked = request.method == "GET" and error.code == "missing_credentials"
    g.share_refusal = "password_asked" if asked else error.code
    page = render_template("share_page.html", **refusal_of(token, error))
    return _page(page, error.status)


def _page(body: str, status: int) -> ResponseReturnValue:
    # The link is a secret in this page's URL: no Referer carries it anywhere.
    headers = {
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex",
        "Cache-Control": "no-store",
    }
    return add_page_headers(make_response((body, status, headers)))
