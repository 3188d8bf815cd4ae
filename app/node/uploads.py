"""An upload to a node as its front ends hand it over: typed options and the body (no Flask).

Both front ends of ``PUT``/``POST /upload`` (the Flask view and the overlay's) parse the
query with ``parse_upload_options``, so that the same query gets the same answer on
either, and ``NodeService.store_upload`` takes the value, not HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO

from app.errors import InvalidField
from app.http.multipart import clean_name
from app.metadata.records import BLOB_KINDS
from app.storage.digests import parse_digest

KINDS = BLOB_KINDS
_NO = ("0", "false")
_YES = ("1", "true")
# An upload id is 32 hex digits; anything longer is cut (the receipt then fits nothing).
MAX_UPLOAD_ID = 64


@dataclass(frozen=True)
class UploadOptions:
    """What a client asks of an upload to a node (the query of ``/upload``)."""

    # The SHA-256 the bytes must have (``hash=``); a form may name it in its ``hash`` field.
    expected: str | None = None
    # The name to keep (``name=``, cleaned; a form's file part brings its own).
    name: str = ""
    # "block": a block of a large file, not a file of its own (one of KINDS).
    kind: str = "file"
    # False (``replicate=0``): a copy written by a master or a peer, no further copies.
    replicate: bool = True
    # Base URLs of the nodes to forward to, in order, before answering (``chain=a,b``):
    # as sent; the service keeps only nodes the master lists.
    chain: tuple[str, ...] = ()
    # False (``register=0``): the writing master registers the copy.
    register: bool = True
    # ``private=1``: content of the per-user API, served only through signed URLs.
    private: bool = False
    # ``upload=ID``: the bytes are a block of that account upload; the answer then
    # carries the receipt that proves to the master they were sent (app.security).
    upload: str = ""


def parse_kind(value: object) -> str:
    """A blob's kind, as an upload or a repair names it; 400 invalid_field otherwise."""
    if not isinstance(value, str) or value not in KINDS:
        raise InvalidField("kind", f"'kind' must be one of {', '.join(KINDS)}")
    return value


def parse_upload_options(args: Mapping[str, str]) -> UploadOptions:
    """Parse the query of ``/upload``; 400 invalid_field for a kind, invalid_hash for a
    hash that is not a SHA-256 digest (a blank one is none)."""
    kind = parse_kind(args.get("kind", "file"))
    wanted = args.get("hash")
    return UploadOptions(
        expected=parse_digest(wanted) if wanted else None,
        name=clean_name(args.get("name", "")),
        kind=kind,
        replicate=args.get("replicate", "1") not in _NO,
        chain=tuple(url for url in args.get("chain", "").split(",") if url),
        register=args.get("register", "1") not in _NO,
        private=args.get("private", "0") in _YES,
        upload=args.get("upload", "")[:MAX_UPLOAD_ID],
    )


@dataclass(frozen=True)
class RawBody:
    """The uploaded bytes themselves: a stream of ``length`` bytes (None: chunked), or
    ``bytes`` already read whole (the overlay's)."""

    source: IO[bytes] | bytes
    length: int | None


@dataclass(frozen=True)
class FormBody:
    """A multipart/form-data body: the file in its ``file`` part, maybe a ``hash`` field.

    ``content_type`` is the form's (it carries the boundary the parts are cut by);
    ``stream`` a stream of the body, or ``bytes`` already read whole (the overlay's)."""

    stream: IO[bytes] | bytes
    content_type: str | None
    length: int | None


UploadBody = RawBody | FormBody
