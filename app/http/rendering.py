"""The Flask views' error handlers: AppError, werkzeug's and gunicorn's errors, and anything
unexpected, answered as ``{"error": {"code", "message"}}``.

Each is rendered by ``app.http.json_answers``, as the overlay renders its errors.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
from typing import Any

from flask import Flask, Response, request
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import HTTPException

from app.errors import (
    BODY_STALLED,
    AppError,
    RequestTimeout,
)
from app.http.json_answers import INTERNAL_ERROR, ErrorAnswer, error_answer, failure_answer

log = logging.getLogger(__name__)


def _response(answer: ErrorAnswer) -> Response:
    return Response(
        answer.body, status=answer.status, headers=answer.headers, mimetype="application/json"
    )


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def http_error_response(exc: HTTPException) -> Response:
    """A werkzeug HTTP error (Flask-Limiter's 429 among them) as the JSON error body."""
    status = exc.code or 500
    headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
    code = _snake_case(type(exc).__name__)
    return _response(failure_answer(status, code, exc.description or "", headers))


def register_error_handlers(app: Flask) -> None:
    """Render AppError, werkzeug's HTTP errors and anything unexpected as JSON."""

    @app.errorhandler(AppError)
    def _app_error(exc: AppError) -> Response:
        return _response(error_answer(exc))

    app.register_error_handler(HTTPException, http_error_response)

    @app.errorhandler(TimeoutError)
    def _timeout(exc: TimeoutError) -> Response:
        # A socket read stalled longer than READ_TIMEOUT (see install_socket_timeouts).
        response = _app_error(RequestTimeout(BODY_STALLED))
        # The rest of the body may still come: nothing more can be read on this
        # connection. Closed after the answer, as the fast path does (gunicorn keeps a
        # connection open whatever Connection header the app sets).
        sock = request.environ.get("gunicorn.socket")
        if sock is not None:
            response.call_on_close(lambda: _shut_down(sock))
        return response

    @app.errorhandler(NoMoreData)
    def _client_gone(exc: NoMoreData) -> Response:
        # The client closed the connection mid-body: nobody will read this answer, and
        # the upload's temp file is already gone. Not a server error.
        log.info("client disconnected during %s %s", request.method, request.path)
        return _response(failure_answer(400, "client_disconnected", "the request body ended early"))

    @app.errorhandler(ParseException)
    def _malformed_body(exc: ParseException) -> Response:
        # gunicorn's body reader found the framing broken while a view read the body
        # (a chunk size such as "zz", a chunk without its CRLF): the client's error. What
        # was stored of it so far is aborted by the readers on their way out.
        log.info("malformed body on %s %s: %s", request.method, request.path, type(exc).__name__)
        message = f"the request body's framing is invalid ({type(exc).__name__})"
        return _response(failure_answer(400, "malformed_body", message))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _response(INTERNAL_ERROR)


def _shut_down(sock: Any) -> None:
    with contextlib.suppress(OSError):  # the client went away first
        sock.shutdown(socket.SHUT_RDWR)
