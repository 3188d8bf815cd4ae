"""The web app's pages: log in and out, and the shell each page is drawn in (its data
comes from /api/ through the page's JavaScript, as any other client's does)."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, current_app, redirect, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from app.errors import AppError, Forbidden
from app.http.session_cookie import (
    COOKIE_NAME,
    CSRF_FIELD,
    clear_session_cookie,
    csrf_token_for,
    has_valid_csrf,
    set_session_cookie,
)
from app.userfiles.current import user_files
from app.userfiles.interface import User
from app.web.pages import PAGES, Page, safe_next
from app.web.security_headers import add_page_headers

bp = Blueprint(
    "web", __name__, template_folder="templates", static_folder="static", static_url_path="/static"
)
bp.after_request(add_page_headers)


def _signed_in() -> tuple[User, str] | None:
    """The user of the session cookie, or None (no cookie, or one no longer valid)."""
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    try:
        return user_files().authenticate(token), token
    except AppError:
        return None


def _login_redirect() -> Response:
    return redirect(f"/login?next={quote(request.full_path.rstrip('?'))}", code=303)


def _render_page(page: Page) -> ResponseReturnValue:
    signed_in = _signed_in()
    if signed_in is None:
        return _login_redirect()
    user, token = signed_in
    if page.admin and not user.is_admin:
        raise Forbidden(f"the {page.title} page is for administrators")
    return render_template(
        "app.html",
        page=page,
        pages=[p for p in PAGES if p.nav and (user.is_admin or not p.admin)],
        user=user,
        csrf_token=csrf_token_for(token),
        csrf_field=CSRF_FIELD,
    )


def _add_page_view(page: Page) -> None:
    def view() -> ResponseReturnValue:
        return _render_page(page)

    bp.add_url_rule(page.path, f"page_{page.view}", view, methods=["GET"])


for _page in PAGES:
    _add_page_view(_page)


@bp.get("/login")
def login_form() -> ResponseReturnValue:
    if _signed_in() is not None:
        return redirect(safe_next(request.args.get("next")), code=303)
    return render_template("login.html", next=safe_next(request.args.get("next")))


@bp.post("/login")
def login_submit() -> ResponseReturnValue:
    _check_origin()
    target = safe_next(request.form.get("next"))
    try:
        session = user_files().login(
            request.form.get("username", ""),
            request.form.get("password", ""),
            web=True,
            label=request.user_agent.string,
        )
    except AppError as error:
        page = render_template(
            "login.html",
            next=target,
            error=error.message,
            username=request.form.get("username", ""),
        )
        return page, error.status
    response = redirect(target, code=303)
    set_session_cookie(response, request, session.token, current_app.config["SESSION_LIFETIME"])
    return response


@bp.post("/logout")
def logout() -> Response:
    token = request.cookies.get(COOKIE_NAME)
    if token and has_valid_csrf(request, token):
        user_files().logout(token)
    elif token:
        raise Forbidden("log out from the app's own page", code="csrf_failed")
    response = redirect("/login", code=303)
    clear_session_cookie(response, request)
    return response


def _check_origin() -> None:
    """A login form posted from another site is refused (login CSRF): browsers send
    ``Origin`` on every POST; its host must be ours."""
    origin = request.headers.get("Origin")
    if origin and origin != "null" and origin.rstrip("/") != request.host_url.rstrip("/"):
        raise Forbidden("log in from this site's own page", code="csrf_failed")


@bp.errorhandler(AppError)
def page_error(error: AppError) -> tuple[str, int]:
    return render_template("error.html", status=error.status, message=error.message), error.status


@bp.errorhandler(HTTPException)
def page_http_error(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    return render_template("error.html", status=status, message=error.description), status
