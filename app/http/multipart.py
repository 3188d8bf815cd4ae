"""Stream the file part of a multipart/form-data body into a sink, never into memory.

Built on werkzeug's sans-io ``MultipartDecoder``; werkzeug's own form parser would spool
the part into a temp file of its choosing first, and this one writes it exactly once,
straight into the blob writer (hashing as it goes).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Generic, Protocol, TypeVar

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import (
    Data,
    Epilogue,
    Field,
    File,
    MultipartDecoder,
    NeedData,
    State,
)

from app.errors import BadRequest, MissingField, PayloadTooLarge, UnsupportedMediaType
from app.http.bodies import BODY_CHUNK

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 100
# A part's headers, and the text before the first part and after the last: a browser's
# are a few hundred bytes. The decoder itself would buffer them without end.
MAX_PART_HEADER_BYTES = 16 * 1024
_IN_PART_DATA = (State.DATA_START, State.DATA)
MAX_NAME_LENGTH = 255


class Sink(Protocol):
    def write(self, chunk: bytes) -> None: ...

    def abort(self) -> None: ...


SinkT = TypeVar("SinkT", bound=Sink)


@dataclass
class FormUpload(Generic[SinkT]):
    """What a multipart body carried: small text fields, and the one file part's sink."""

    fields: dict[str, str] = field(default_factory=dict)
    filename: str = ""
    sink: SinkT | None = None


def boundary_of(content_type: str | None) -> bytes:
    """Return the multipart boundary of a Content-Type header; 415 for anything else."""
    mimetype, options = parse_options_header(content_type or "")
    if mimetype != "multipart/form-data":
        raise UnsupportedMediaType("send the file as multipart/form-data (curl -F file=@PATH)")
    boundary = options.get("boundary", "")
    if not boundary:
        raise BadRequest("multipart/form-data without a boundary", code="malformed_multipart")
    return boundary.encode("latin-1")


def read_file_part(
    stream: IO[bytes],
    content_type: str | None,
    file_field: str,
    open_sink: Callable[[str], SinkT],
) -> FormUpload[SinkT]:
    """Parse the body, writing the ``file_field`` part into ``open_sink(filename)``.

    Other text fields are kept (each at most 64 KiB). A second file part under the same
    field is refused rather than silently dropped. On error the sink is aborted; on
    success the caller owns it.
    """
    upload: FormUpload[SinkT] = FormUpload()
    try:
        return _read_into(stream, content_type, file_field, open_sink, upload)
    except BaseException:
        if upload.sink is not None:
            upload.sink.abort()
        raise


def _read_into(
    stream: IO[bytes],
    content_type: str | None,
    file_field: str,
    open_sink: Callable[[str], SinkT],
    upload: FormUpload[SinkT],
) -> FormUpload[SinkT]:
    # The decoder's own memory cap bounds each received chunk, not each field: fields and
    # part headers are bounded below, and it keeps only a boundary's length of file data.
    decoder = MultipartDecoder(boundary_of(content_type), max_parts=MAX_PARTS)
    field_name: str | None = None
    field_chunks: list[bytes] = []
    field_bytes = 0
    write: Callable[[bytes], object] | None = None
    finished = False
    try:
        while not finished:
            chunk = stream.read(BODY_CHUNK)
            decoder.receive_data(chunk or None)
            event = decoder.next_event()
            while not isinstance(event, NeedData):
                if isinstance(event, Epilogue):
                    finished = True
                    break
                if isinstance(event, (File, Field)):
                    _check_part_headers(event)
                if isinstance(event, File) and event.name == file_field:
                    if upload.sink is not None:
                        raise BadRequest(
                            f"send one file per request in '{file_field}'", code="too_many_files"
                        )
                    upload.filename = event.filename
                    upload.sink = open_sink(event.filename)
                    field_name, write = None, upload.sink.write
                elif isinstance(event, File):
                    field_name, write = None, None  # another file field: not ours, skipped
                elif isinstance(event, Field):
                    field_name, field_chunks, field_bytes = event.name, [], 0
                    write = field_chunks.append
                elif isinstance(event, Data):
                    if field_name is not None:
                        field_bytes += len(event.data)
                        if field_bytes > MAX_FIELD_BYTES:
                            raise PayloadTooLarge(f"form field '{field_name}' exceeds 64 KiB")
                    if write is not None:
                        write(event.data)
                    if not event.more_data and field_name is not None:
                        upload.fields[field_name] = _field_text(field_name, field_chunks)
                        field_name = None
                event = decoder.next_event()
            # Waiting for more: outside a part's data, everything buffered is a part's
            # headers (or preamble, epilogue) still without its end.
            if decoder.state not in _IN_PART_DATA and len(decoder.buffer) > MAX_PART_HEADER_BYTES:
                raise PayloadTooLarge(
                    f"a multipart part's headers exceed {MAX_PART_HEADER_BYTES} bytes"
                )
            if not chunk and not finished:
                raise BadRequest("the multipart body ended early", code="malformed_multipart")
    except RequestEntityTooLarge as exc:
        raise PayloadTooLarge(
            "a form field exceeds 64 KiB, or the form has too many parts"
        ) from exc
    except ValueError as exc:
        # Our own BadRequest is a ValueError too, and passes through untouched.
        if isinstance(exc, BadRequest):
            raise
        raise BadRequest(f"malformed multipart body: {exc}", code="malformed_multipart") from exc
    if upload.sink is None:
        raise MissingField(file_field, f"multipart field '{file_field}' (a file) is required")
    return upload


def _check_part_headers(part: File | Field) -> None:
    """413 for a part whose headers exceed the bound, however the body was cut into
    reads (one read may bring a whole part's head: the wait below never sees it)."""
    size = sum(len(name) + len(value) + 4 for name, value in part.headers.items())
    if size > MAX_PART_HEADER_BYTES:
        raise PayloadTooLarge(f"a multipart part's headers exceed {MAX_PART_HEADER_BYTES} bytes")


def _field_text(name: str, chunks: list[bytes]) -> str:
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError:
        # Not replaced: a value the client did not send must not be taken for one it did.
        raise BadRequest(f"form field '{name}' is not UTF-8", code="malformed_multipart") from None


def clean_name(filename: str | None) -> str:
    """Return a display name from a client's filename: last path part, no control chars.

    Names are metadata only, never paths, but a name full of control characters or
    directory parts would still be a trap for whoever downloads the file later.
    """
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    printable = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    return printable.strip()[:MAX_NAME_LENGTH]


@dataclass
class Part:
    """A part of a multipart body read whole: its field name, filename (None for a text
    field) and bytes, or ``data`` None when it passed the caller's limit (then dropped)."""

    name: str
    filename: str | None
    data: bytes | None


def read_parts(
    stream: IO[bytes], content_type: str | None, *, max_parts: int, max_part_bytes: int
) -> list[Part]:
    """Read every part of the body, each one whole into memory up to ``max_part_bytes``
    (past it only the fact is kept); 413 for more than ``max_parts`` parts."""
    decoder = MultipartDecoder(boundary_of(content_type), max_parts=max_parts)
    parts: list[Part] = []
    chunks: list[bytes] = []
    size = 0
    finished = False
    try:
        while not finished:
            chunk = stream.read(BODY_CHUNK)
            decoder.receive_data(chunk or None)
            event = decoder.next_event()
            while not isinstance(event, NeedData):
                if isinstance(event, Epilogue):
                    finished = True
                    break
                if isinstance(event, File | Field):
                    filename = event.filename if isinstance(event, File) else None
                    parts.append(Part(event.name, filename, b""))
                    chunks, size = [], 0
                elif isinstance(event, Data):
                    size += len(event.data)
                    if size <= max_part_bytes:
                        chunks.append(event.data)
                    if not event.more_data:
                        parts[-1].data = b"".join(chunks) if size <= max_part_bytes else None
                event = decoder.next_event()
            if decoder.state not in _IN_PART_DATA and len(decoder.buffer) > MAX_PART_HEADER_BYTES:
                raise PayloadTooLarge(
                    f"a multipart part's headers exceed {MAX_PART_HEADER_BYTES} bytes"
                )
            if not chunk and not finished:
                raise BadRequest("the multipart body ended early", code="malformed_multipart")
    except RequestEntityTooLarge as exc:
        raise PayloadTooLarge(
            f"the body passes its limit of bytes, or of {max_parts} parts"
        ) from exc
    except ValueError as exc:
        if isinstance(exc, BadRequest):
            raise
        raise BadRequest(f"malformed multipart body: {exc}", code="malformed_multipart") from exc
    return parts
