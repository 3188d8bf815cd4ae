"""Flask glue shared by every role: the one JSON error renderer and socket timeouts."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, unquote_to_bytes

from flask import Flask, Response, g, jsonify, request
from gunicorn.http.errors import NoMoreData, ParseException
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import ClosingIterator, wrap_file

from app.errors import (
    BODY_STALLED,
    AppError,
    BadRequest,
    PayloadTooLarge,
    RangeNotSatisfiable,
    RequestTimeout,
)
from app.jsonbody import body_limit, check_json_type, decode_object

log = logging.getLogger(__name__)

# A content address names exactly one sequence of bytes: cache it for a year, never revalidate.
IMMUTABLE = "public, max-age=31536000, immutable"
# gunicorn reads up to 1 MiB per recv for a body of known length; reading less at a time
# makes it copy the rest of its buffer at every read.
BODY_CHUNK = 1024 * 1024
CONDITIONAL_HEADERS = (
    "HTTP_RANGE",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_RANGE",
)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """Render ``{"error": {"code", "message"}}`` with ``status``."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def register_error_handlers(app: Flask) -> None:
    """Render AppError, werkzeug's HTTP errors and anything unexpected as JSON."""

    @app.errorhandler(AppError)
    def _app_error(exc: AppError) -> Response:
        response = jsonify(exc.to_dict())
        response.status_code = exc.status
        response.headers.update(exc.headers)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
        return error_response(
            status, _snake_case(type(exc).__name__), exc.description or "", headers
        )

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
        return error_response(400, "client_disconnected", "the request body ended early")

    @app.errorhandler(ParseException)
    def _malformed_body(exc: ParseException) -> Response:
        # gunicorn's body reader found the framing broken while a view read the body
        # (a chunk size such as "zz", a chunk without its CRLF): the client's error. What
        # was stored of it so far is aborted by the readers on their way out.
        log.info("malformed body on %s %s: %s", request.method, request.path, type(exc).__name__)
        return error_response(
            400, "malformed_body", f"the request body's framing is invalid ({type(exc).__name__})"
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal server error")


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


def _shut_down(sock: Any) -> None:
    with contextlib.suppress(OSError):  # the client went away first
        sock.shutdown(socket.SHUT_RDWR)


def _clear_timeout(sock: Any) -> None:
    with contextlib.suppress(OSError):  # the client went away; nothing to reset
        sock.settimeout(None)


# Where json_body keeps its outcome for the rest of the request (in flask.g).
_JSON_BODY = "mdbx_json_body"


def json_body() -> dict[str, Any]:
    """Return the request's JSON object, read up to its endpoint's limit (``BODY_LIMITS``).

    400 invalid_json for anything ``decode_object`` refuses; 413 before reading a body
    whose Content-Length is over the limit, and as soon as a chunked one passes it. The
    outcome is kept for the request: the login rate limit reads the body before the view.
    """
    outcome: dict[str, Any] | AppError | None = g.get(_JSON_BODY)
    if outcome is None:
        try:
            outcome = decode_object(_read_json_bytes(body_limit(request.endpoint)))
        except AppError as exc:
            outcome = exc
        setattr(g, _JSON_BODY, outcome)
    if isinstance(outcome, AppError):
        raise outcome
    return outcome


def _read_json_bytes(limit: int) -> bytes:
    check_json_type(request.content_type)
    too_large = PayloadTooLarge(f"a JSON body here is limited to {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while chunk := request.stream.read(min(BODY_CHUNK, limit + 1 - size)):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def send_blob(path: Path, *, etag: str, mimetype: str, download_name: str) -> Response:
    """Stream an immutable blob through the server's file wrapper (sendfile).

    werkzeug's send_file re-parses its own Cache-Control header half a dozen times per
    call; blobs need only fixed headers. A conditional request (Range, If-None-Match) is
    answered by ``send_stream``, so that a blob on a node and a file through the master
    follow one rule for 206, 304 and 416.
    """
    file = path.open("rb")
    size = os.fstat(file.fileno()).st_size
    if any(key in request.environ for key in CONDITIONAL_HEADERS):
        try:
            response = send_stream(
                lambda start, stop: _file_range(file, start, stop),
                size=size,
                etag=etag,
                mimetype=mimetype,
                download_name=download_name,
            )
        except BaseException:
            file.close()
            raise
        response.call_on_close(file.close)  # a 304, whose body never opened the range
        return response
    # The type guessed from the name, without a charset: stored bytes are served as they
    # are, and nothing says which encoding a text file was written in.
    response = Response(
        wrap_file(request.environ, file), content_type=mimetype, direct_passthrough=True
    )
    response.headers.update(_content_headers(etag, download_name))
    response.headers["Content-Length"] = str(size)
    return response


def _file_range(file: IO[bytes], start: int, stop: int) -> Iterator[bytes]:
    """Yield the bytes ``[start, stop)`` of an open file, and close it."""
    with file:
        while start < stop:
            chunk = os.pread(file.fileno(), min(BODY_CHUNK, stop - start), start)
            if not chunk:  # the file shrank: end short, never with other bytes
                raise OSError(f"the file ended {stop - start} bytes early")
            start += len(chunk)
            yield chunk


def _content_headers(etag: str, download_name: str) -> dict[str, str]:
    return {
        "ETag": f'"{etag}"',
        "Cache-Control": IMMUTABLE,
        "Accept-Ranges": "bytes",
        "Content-Disposition": inline_disposition(download_name),
    }


def _requested_span(size: int, etag: str) -> tuple[int, int] | None:
    """The one byte range ``[start, stop)`` of ``size`` bytes the request asks for, or
    None to send them all; RangeNotSatisfiable (416) for a valid range outside them.

    As RFC 9110 (14.2) has it: a Range that is not valid syntax, names another unit, or
    asks for several ranges (we send no multipart/byteranges) is ignored, as is one whose
    If-Range does not match (this content has no Last-Modified date to match).
    """
    wanted = request.range  # None when the header is absent or malformed
    if_range = request.if_range
    if (
        wanted is None
        or wanted.units != "bytes"
        or len(wanted.ranges) != 1
        or if_range.date is not None
        or (if_range.etag is not None and if_range.etag != etag)
    ):
        return None
    span = wanted.range_for_length(size)
    if span is None:
        raise RangeNotSatisfiable(
            f"the range asked for is outside the {size} bytes of the file",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return span


def send_stream(
    read: Callable[[int, int], Iterator[bytes]],
    *,
    size: int,
    etag: str,
    mimetype: str,
    download_name: str,
) -> Response:
    """Stream ``read(start, stop)``: the whole content, or the one range asked for (206).

    The first chunk is read before the status line is sent, so a read that cannot start
    (no live replica) is still a JSON error rather than a cut-off body.
    """
    headers = _content_headers(etag, download_name)
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    start, stop, status = 0, size, 200
    span = _requested_span(size, etag)
    if span is not None:
        start, stop = span
        status = 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    chunks = read(start, stop)
    first = next(chunks, b"")
    # Closed by the server once sent, or when the client goes: the reader lets go of
    # what it holds (an open file, blocks fetched ahead) then, not when collected.
    body = ClosingIterator(itertools.chain([first], chunks), getattr(chunks, "close", None))
    response = Response(
        body,
        status=status,
        content_type=mimetype,
        headers=headers,
        direct_passthrough=True,
    )
    response.headers["Content-Length"] = str(stop - start)
    return response


def inline_disposition(name: str) -> str:
    fallback = name.encode("ascii", "replace").decode().replace("\\", "_").replace('"', "_")
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
