"""Request hooks every role installs: each request has an id, URLs must be UTF-8, socket
reads and writes are bounded."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, Response, request

from app.cluster import request_ids
from app.errors import (
    BadRequest,
    BodyEndedEarly,
)


def install_request_ids(app: Flask) -> None:
    """Give each request its id (``app.cluster.request_ids``) and its answer the header,
    errors included: the fast path's answers carry it alike."""

    @app.before_request
    def _name_request() -> None:
        request_ids.current.set(request_ids.accept_or_make(request.headers.get(request_ids.HEADER)))

    @app.after_request
    def _tell_request_id(response: Response) -> Response:
        request_id = request_ids.current.get()
        if request_id:
            response.headers[request_ids.HEADER] = request_id
        return response


def install_whole_bodies(app: Flask) -> None:
    """Make a body that ends before its Content-Length an error (400
    client_disconnected) for every view that reads it, before it is taken for a whole
    file: gunicorn's length reader returns a short body as if it were all, and werkzeug
    trusts it (``wsgi.input_terminated``)."""

    @app.before_request
    def _check_body_length() -> None:
        environ = request.environ
        length = request.content_length
        if length and "HTTP_TRANSFER_ENCODING" not in environ:
            environ["wsgi.input"] = _WholeBody(environ["wsgi.input"], length)


class _WholeBody:
    """A request body of ``length`` bytes that raises BodyEndedEarly at an early end."""

    def __init__(self, raw: Any, length: int) -> None:
        self._raw = raw
        self._left = length

    def read(self, size: int | None = -1) -> bytes:
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        data: bytes = self._raw.read(wanted) if wanted else b""
        return self._count(data, wanted)

    def readline(self, size: int | None = -1) -> bytes:
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        data: bytes = self._raw.readline(wanted) if wanted else b""
        return self._count(data, wanted)

    def __iter__(self) -> Any:
        return iter(self.readline, b"")

    def _count(self, data: bytes, wanted: int) -> bytes:
        self._left -= len(data)
        if wanted and not data:
            raise BodyEndedEarly(f"the request body ended {self._left} bytes before its length")
        return data


def install_url_check(app: Flask) -> None:
    """Refuse (400 invalid_url) a request whose path or query is not UTF-8 once
    percent-decoded (``/api/files/%ED%A0%80``, a surrogate's bytes).

    werkzeug decodes such a path with replacement characters and leaves such a query
    value percent-encoded: a file put under a name the client cannot have meant would
    be stored under another one.
    """

    @app.before_request
    def _refuse_undecodable_url() -> None:
        environ = request.environ
        try:
            # WSGI hands both over as latin-1 text of the bytes received (the path
            # percent-decoded already).
            environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
            unquote_to_bytes(environ.get("QUERY_STRING", "").encode("latin-1")).decode("utf-8")
        except UnicodeError:
            raise BadRequest(
                "the URL's path or query is not UTF-8 once percent-decoded", code="invalid_url"
            ) from None


def install_socket_timeouts(app: Flask, read_timeout: float, write_timeout: float) -> None:
    """Bound each socket read while a request is served, and each write of its response.

    gunicorn's gevent worker only bounds the keep-alive wait (IDLE_TIMEOUT); without this a
    client that stops mid-body holds a greenlet forever. The socket is given back without
    a timeout so that gunicorn's own keep-alive handling applies between requests.
    """

    @app.before_request
    def _bound_reads() -> None:
        sock = request.environ.get("gunicorn.socket")
        if sock is not None and read_timeout:
            sock.settimeout(read_timeout)

    @app.after_request
    def _bound_writes(response: Response) -> Response:
        sock = request.environ.get("gunicorn.socket")
        if sock is not None:
            if write_timeout:
                sock.settimeout(write_timeout)
            response.call_on_close(lambda: _clear_timeout(sock))
        return response


def _clear_timeout(sock: Any) -> None:
    with contextlib.suppress(OSError):  # the client went away; nothing to reset
        sock.settimeout(None)
