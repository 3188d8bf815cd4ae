"""The tus 1.0 protocol's headers, parsed and spelled: versions and
extensions, numbers, ``Upload-Metadata``, ``Upload-Expires``, and a request body that
ends early when its client goes away.

https://tus.io/protocols/resumable-upload (core, creation, creation-with-upload,
termination, expiration, concatenation).
"""

from __future__ import annotations

import binascii
import email.utils
from typing import IO
from urllib.parse import urlsplit

from gunicorn.http.errors import NoMoreData
from werkzeug.exceptions import ClientDisconnected

from app.errors import BadRequest, BodyEndedEarly, MissingField, PreconditionFailed

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,expiration,concatenation"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# The chunk size the web client should send, on OPTIONS and POST answers.
CHUNK_SIZE_HEADER = "Mdbx-Chunk-Size"
# The block size, on OPTIONS: partial uploads but the last are multiples of it.
BLOCK_SIZE_HEADER = "Mdbx-Block-Size"
# What Upload-Metadata may hold, as stored (``resumable_uploads.metadata``).
MAX_METADATA_BYTES = 4096


class InvalidHeader(BadRequest):
    code = "invalid_header"


def check_version(value: str | None) -> None:
    """412 precondition_failed, naming the version spoken, for any other Tus-Resumable."""
    if value != TUS_VERSION:
        raise PreconditionFailed(
            f"this server speaks tus {TUS_VERSION}: send Tus-Resumable: {TUS_VERSION}",
            code="unsupported_tus_version",
            headers={"Tus-Version": TUS_VERSION},
        )


def parse_count(name: str, value: str | None) -> int:
    """A non-negative number of bytes in a header; 400 when missing or not one."""
    if value is None or value == "":
        raise MissingField(name, f"the {name} header is required")
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        raise InvalidHeader(f"{name} must be a number of bytes", details={"header": name})
    return int(value)


def parse_metadata(value: str | None) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (the value may be
    left out); 400 invalid_metadata for anything else, or a value that is not UTF-8."""
    if value is None or not value.strip():
        return {}
    if len(value.encode("utf-8", "surrogateescape")) > MAX_METADATA_BYTES:
        raise _invalid(f"Upload-Metadata is longer than {MAX_METADATA_BYTES} bytes")
    pairs: dict[str, str] = {}
    for item in value.split(","):
        parts = item.strip().split(" ")
        key = parts[0]
        if not key or len(parts) > 2 or not key.isascii() or not key.isprintable():
            raise _invalid(f"Upload-Metadata has a malformed pair: {item.strip()[:64]!r}")
        if key in pairs:
            raise _invalid(f"Upload-Metadata names {key!r} twice")
        pairs[key] = _decode(key, parts[1] if len(parts) == 2 else "")
    return pairs


def parse_concat(value: str | None, collection: str) -> list[str] | None:
    """``Upload-Concat``: None when absent, [] for ``partial``, and for ``final;URL URL``
    the ids of the uploads named, in order (each URL absolute or a path under
    ``collection``); 400 invalid_header for anything else."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value == "partial":
        return []
    kind, _, urls = value.partition(";")
    if kind != "final" or not urls.split():
        raise _bad_concat("Upload-Concat is 'partial' or 'final;' and the partial uploads' URLs")
    ids = []
    for url in urls.split():
        path = urlsplit(url).path
        upload_id = path[len(collection) :] if path.startswith(collection) else ""
        if not upload_id or "/" in upload_id:
            raise _bad_concat(f"Upload-Concat names {url[:80]!r}, not an upload of {collection}")
        ids.append(upload_id)
    return ids


def http_date(timestamp: float) -> str:
    """``Upload-Expires``: an RFC 9110 date."""
    return email.utils.formatdate(timestamp, usegmt=True)


class DisconnectTolerantBody:
    """A request body that ends where its client stopped sending (tus keeps the bytes
    received then). ``stalled`` is the TimeoutError of a read that waited too long: the
    view raises it once those bytes are stored, so that the connection is closed."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.cut_short = False
        self.stalled: TimeoutError | None = None

    def read(self, size: int = -1) -> bytes:
        if self.cut_short:
            return b""
        try:
            return self._stream.read(size)
        except TimeoutError as exc:
            self.stalled = exc
        except (BodyEndedEarly, ClientDisconnected, NoMoreData, ConnectionError):
            pass  # the connection closed mid-body (BodyEndedEarly: app.http.hooks)
        self.cut_short = True
        return b""


def _decode(key: str, encoded: str) -> str:
    try:
        raw = binascii.a2b_base64(encoded.encode("ascii"), strict_mode=True) if encoded else b""
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise _invalid(f"the Upload-Metadata value of {key!r} is not base64 of UTF-8") from None


def _bad_concat(message: str) -> InvalidHeader:
    return InvalidHeader(message, details={"header": "Upload-Concat"})


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, code="invalid_metadata", details={"header": "Upload-Metadata"})
