"""Blob responses: immutable content-addressed bytes with their headers, Range and 304."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from flask import Response, request
from werkzeug.wsgi import ClosingIterator, wrap_file

from app.errors import (
    RangeNotSatisfiable,
)
from app.http.blob_headers import CONDITIONAL_HEADERS, blob_headers, mimetype_of
from app.http.bodies import BODY_CHUNK
from app.http.user_content import USER_CACHE_CONTROL, Presentation, present
from app.userfiles.interface import Download


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
    headers = blob_headers(etag, download_name, mimetype=mimetype, length=size)
    return Response(wrap_file(request.environ, file), headers=headers, direct_passthrough=True)


def _file_range(file: IO[bytes], start: int, stop: int) -> Iterator[bytes]:
    """Yield the bytes ``[start, stop)`` of an open file, and close it."""
    with file:
        while start < stop:
            chunk = os.pread(file.fileno(), min(BODY_CHUNK, stop - start), start)
            if not chunk:  # the file shrank: end short, never with other bytes
                raise OSError(f"the file ended {stop - start} bytes early")
            start += len(chunk)
            yield chunk


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
    presentation: Presentation | None = None,
) -> Response:
    """Stream ``read(start, stop)``: the whole content, or the one range asked for (206);
    a user's file as its ``presentation`` says (``app.http.user_content``).

    The first chunk is read before the status line is sent, so a read that cannot start
    (no live replica) is still a JSON error rather than a cut-off body.
    """
    shown: dict[str, Any] = {}
    if presentation is not None:
        mimetype = presentation.mimetype
        shown = {
            "cache_control": USER_CACHE_CONTROL,
            "disposition": presentation.disposition,
            "extra": presentation.headers,
        }
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=blob_headers(etag, download_name, **shown))
    start, stop, status = 0, size, 200
    span = _requested_span(size, etag)
    if span is not None:
        start, stop = span
        status = 206
    headers = blob_headers(etag, download_name, mimetype=mimetype, length=stop - start, **shown)
    if span is not None:
        headers.append(("Content-Range", f"bytes {start}-{stop - 1}/{size}"))
    chunks = read(start, stop)
    first = next(chunks, b"")
    # Closed by the server once sent, or when the client goes: the reader lets go of
    # what it holds (an open file, blocks fetched ahead) then, not when collected.
    body = ClosingIterator(itertools.chain([first], chunks), getattr(chunks, "close", None))
    return Response(body, status=status, headers=headers, direct_passthrough=True)


def send_download(download: Download) -> Response:
    """Stream a user's file (or a shared one) by name, with ``Range`` and ``If-None-Match``:
    an attachment, or shown where ``?inline=1`` asks and its type is safe to show."""
    return send_stream(
        download.read,
        size=download.size,
        etag=download.hash,
        mimetype=mimetype_of(download.name),
        download_name=download.name,
        presentation=present(download.name, inline=request.args.get("inline") == "1"),
    )
