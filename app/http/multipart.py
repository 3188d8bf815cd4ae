"""Stream the file part of a multipart/form-data body into a sink, never into memory.

Built on the ``multipart`` package's sans-io ``PushMultipartParser``: a form's file part
is written exactly once, straight into the blob writer (hashing as it goes), where a
form parser of its own would spool it into a temp file first. It replaced werkzeug's
``MultipartDecoder``, which took 138 µs of a node's CPU for a 4 KiB form (a quarter of
a small upload's cost, bench/PROFILE-22.md); this one takes about 40.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Generic, Protocol, TypeVar

from multipart import (
    MultipartError,
    MultipartSegment,
    ParserLimitReached,
    PushMultipartParser,
    parse_options_header,
)

from app.errors import BadRequest, MissingField, PayloadTooLarge, UnsupportedMediaType
from app.http.bodies import BODY_CHUNK

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 100
# A part's headers, and the text before the first part and after the last: a browser's
# are a few hundred bytes. Past it a body is refused after a read or two, not read whole.
MAX_PART_HEADER_BYTES = 16 * 1024
# A browser sends two or three header lines per part.
MAX_PART_HEADER_LINES = 64
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
    return str(boundary).encode("latin-1")


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


def _events(
    stream: IO[bytes], content_type: str | None, max_parts: int, too_many: str
) -> Iterator[MultipartSegment | bytes | None]:
    """The parser's events for the whole body: a part's head (``MultipartSegment``), its
    bytes, then None at its end; our errors for a malformed or unbounded body."""
    parser = PushMultipartParser(
        boundary_of(content_type),
        max_header_size=MAX_PART_HEADER_BYTES,
        max_header_count=MAX_PART_HEADER_LINES,
        max_segment_count=max_parts,
    )
    # Bytes read since the parser last had something to say: a preamble, part headers
    # or an epilogue still without end (the parser skips what lies outside parts).
    silent = 0
    try:
        while True:
            chunk = stream.read(BODY_CHUNK)
            if not chunk:
                break
            silent += len(chunk)
            for event in parser.parse(chunk):
                silent = 0
                if isinstance(event, MultipartSegment):
                    _check_part_headers(event)
                yield event
            if silent > MAX_PART_HEADER_BYTES:
                raise PayloadTooLarge(
                    f"a multipart part's headers, or the text around the parts, exceed "
                    f"{MAX_PART_HEADER_BYTES} bytes"
                )
        parser.close()
    except ParserLimitReached as exc:
        raise PayloadTooLarge(f"{too_many} ({exc})") from exc
    except MultipartError as exc:
        raise BadRequest(f"malformed multipart body: {exc}", code="malformed_multipart") from exc


def _read_into(
    stream: IO[bytes],
    content_type: str | None,
    file_field: str,
    open_sink: Callable[[str], SinkT],
    upload: FormUpload[SinkT],
) -> FormUpload[SinkT]:
    field_name: str | None = None
    field_chunks: list[bytes] = []
    field_bytes = 0
    write: Callable[[bytes], object] | None = None
    for event in _events(
        stream, content_type, MAX_PARTS, "a form's part headers are too long or too many parts"
    ):
        if isinstance(event, MultipartSegment):
            if event.filename is not None and event.name == file_field:
                if upload.sink is not None:
                    raise BadRequest(
                        f"send one file per request in '{file_field}'", code="too_many_files"
                    )
                upload.filename = event.filename
                upload.sink = open_sink(event.filename)
                field_name, write = None, upload.sink.write
            elif event.filename is not None:
                field_name, write = None, None  # another file field: not ours, skipped
            else:
                field_name, field_chunks, field_bytes = event.name or "", [], 0
                write = field_chunks.append
        elif event is None:
            if field_name is not None:
                upload.fields[field_name] = _field_text(field_name, field_chunks)
            field_name, write = None, None
        else:
            if field_name is not None:
                field_bytes += len(event)
                if field_bytes > MAX_FIELD_BYTES:
                    raise PayloadTooLarge(f"form field '{field_name}' exceeds 64 KiB")
            if write is not None:
                write(event)
    if upload.sink is None:
        raise MissingField(file_field, f"multipart field '{file_field}' (a file) is required")
    return upload


def _check_part_headers(part: MultipartSegment) -> None:
    """413 for a part whose headers exceed the bound, however the body was cut into
    reads (one read may bring a whole part's head: the parser bounds each line only)."""
    size = sum(len(name) + len(value) + 4 for name, value in part.headerlist)
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
    parts: list[Part] = []
    chunks: list[bytes] = []
    size = 0
    for event in _events(
        stream, content_type, max_parts, f"the parts' headers are too long, or over {max_parts}"
    ):
        if isinstance(event, MultipartSegment):
            parts.append(Part(event.name or "", event.filename, b""))
            chunks, size = [], 0
        elif event is None:
            parts[-1].data = b"".join(chunks) if size <= max_part_bytes else None
        else:
            size += len(event)
            if size <= max_part_bytes:
                chunks.append(event)
    return parts
