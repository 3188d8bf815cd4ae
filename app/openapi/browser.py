"""What a browser calls on the master, in OpenAPI: the web app's pages
(``app.web.routes``, text/html, drawn from /api/ by their scripts), its static files,
and the share links ``/s/<token>`` (``app.shares.routes``: a page for a browser, the
bytes for every other client)."""

from __future__ import annotations

from app.http.share_access import PASSWORD_HEADER
from app.openapi.components import (
    BINARY,
    CLIENT,
    OPEN,
    STRING,
    USER,
    Operation,
    Schema,
    Security,
    answer,
    operation,
    param,
)
from app.web.pages import PAGES

HTML = {"text/html": {"schema": STRING}}
TOKEN = param("path", "token")
# A link's password for a client (a browser's is the grant cookie its form set).
SHARE_PARAMETERS = [TOKEN, param("header", PASSWORD_HEADER), param("query", "password")]
# A page's errors are pages too (the web blueprint's error handlers).
PAGE_ERRORS = {
    **answer(400, media=HTML),
    **answer(403, media=HTML),
    **answer(404, media=HTML),
    **answer(405, media=HTML),
}
SHARE_FAILS = (*CLIENT, 401, 403, 404, 410, 429, 502, 503, 504)


def page(operation_id: str, summary: str, *, security: Security) -> Operation:
    """A page shell: 200 for a signed-in user, 303 to the login form for anyone else."""
    responses = {**answer(200, media=HTML), **answer(303), **PAGE_ERRORS}
    return operation(operation_id, summary, responses, security=security)


def share_bytes() -> dict[str, Schema]:
    """The link's answers: its file (or a range of it), or the recipient's page."""
    media = {"*/*": BINARY}
    return {**answer(200, media=media), **answer(206, media=media), **answer(304)}


PATHS: dict[str, dict[str, Operation]] = {
    page_.path: {"get": page(f"page_{page_.view}", f"The {page_.title} page", security=USER)}
    for page_ in PAGES
}
PATHS |= {
    "/login": {
        "get": operation(
            "loginForm",
            "The login form (303 onwards when already signed in)",
            {**answer(200, media=HTML), **answer(303), **PAGE_ERRORS},
            parameters=[param("query", "next")],
        ),
        "post": operation(
            "loginSubmit",
            "Log in from the form: 303 with the session cookie, or the form again",
            {
                **answer(303),
                **PAGE_ERRORS,
                **answer(401, media=HTML),
                **answer(429, media=HTML),
            },
            body={
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "properties": {"username": STRING, "password": STRING, "next": STRING},
                        }
                    }
                },
            },
        ),
    },
    "/logout": {
        "post": operation(
            "logoutSubmit",
            "End the web session (its CSRF token in the form) and go back to the login form",
            {**answer(303), **PAGE_ERRORS},
            security=OPEN,
        )
    },
    "/static/{filename}": {
        "get": operation(
            "static",
            "The web app's scripts, styles and vendored libraries",
            {**answer(200, media={"*/*": BINARY}), **answer(304), **PAGE_ERRORS},
            parameters=[param("path", "filename")],
        )
    },
    "/s/{token}": {
        "get": operation(
            "openShare",
            "A share link: the recipient's page for a browser, else the file's bytes",
            {**share_bytes(), **answer(401, media=HTML), **answer(404, media=HTML)},
            SHARE_FAILS,
            parameters=[
                *SHARE_PARAMETERS,
                param("query", "download"),
                param("header", "Range"),
                param("header", "If-None-Match"),
            ],
        ),
        "post": operation(
            "unlockShare",
            "The page's password form: 303 back to the link with a grant cookie",
            {**answer(303), **answer(200, media=HTML), **PAGE_ERRORS},
            (401, 408, 410, 429),
            parameters=[TOKEN],
            body={
                "required": False,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {"type": "object", "properties": {"password": STRING}}
                    }
                },
            },
        ),
    },
    "/s/{token}/thumbnail": {
        "get": operation(
            "shareThumbnail",
            "A shared image's thumbnail (the page's preview)",
            answer(200, media={"image/jpeg": BINARY, "image/png": BINARY}),
            (*SHARE_FAILS, 413, 415, 422),
            parameters=[*SHARE_PARAMETERS, param("query", "size")],
        )
    },
}
