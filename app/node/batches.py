"""The body of a node's ``POST /blobs`` as its view hands it to the service (no Flask).

The master stores the small files of a batch (``POST /api/batch``) with one such request
per node instead of one ``PUT /upload`` per file and node: a line of JSON naming each
blob, ``{"blobs": [{"hash", "size", "name"}, ...]}``, then their bytes one after the
other (``app.cluster.node_client`` writes it). Every blob is checked against its hash
by the service, and the whole batch is made durable with one sync.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from app.cluster.blob_batches import (
    BLOBS_MEDIA_TYPE,
    MAX_BATCH_BLOB_BYTES,
    MAX_BATCH_BLOBS,
    MAX_BATCH_HEADER_BYTES,
)
from app.errors import BadRequest, PayloadTooLarge
from app.http.bodies import BODY_CHUNK
from app.http.jsonbody import decode_object
from app.http.multipart import clean_name
from app.storage.digests import parse_digest


@dataclass(frozen=True)
class SentBlob:
    """One blob of a batch as sent: the digest it must have, its name, its bytes."""

    digest: str
    name: str
    data: bytes


def malformed(message: str) -> BadRequest:
    return BadRequest(message, code="malformed_batch")


def read_blob_batch(
    stream: IO[bytes], content_type: str | None, content_length: int | None, *, max_blob: int
) -> list[SentBlob]:
    """Read a whole batch; 400 malformed_batch for a body that is not one (a header that
    is no list of blobs, a body shorter or longer than it says), invalid_hash for a
    digest that is none, 413 past MAX_BATCH_BLOBS, ``max_blob`` bytes a blob or
    MAX_BATCH_BLOB_BYTES in all."""
    if (content_type or "").partition(";")[0].strip().lower() != BLOBS_MEDIA_TYPE:
        raise malformed(f"send the blobs as {BLOBS_MEDIA_TYPE}")
    if (
        content_length is not None
        and content_length > MAX_BATCH_HEADER_BYTES + MAX_BATCH_BLOB_BYTES
    ):
        raise PayloadTooLarge(f"a batch holds at most {MAX_BATCH_BLOB_BYTES} bytes of blobs")
    line = stream.readline(MAX_BATCH_HEADER_BYTES + 1)
    if not line.endswith(b"\n"):
        if len(line) > MAX_BATCH_HEADER_BYTES:
            raise PayloadTooLarge(f"a batch's JSON line is at most {MAX_BATCH_HEADER_BYTES} bytes")
        raise malformed("the body ended before the end of its JSON line")
    listed = decode_object(line).get("blobs")
    if not isinstance(listed, list):
        raise malformed('the JSON line must be {"blobs": [{"hash", "size", "name"}, ...]}')
    if len(listed) > MAX_BATCH_BLOBS:
        raise PayloadTooLarge(f"a batch holds at most {MAX_BATCH_BLOBS} blobs")
    wanted = [_listed_blob(item, max_blob) for item in listed]
    if sum(size for _digest, size, _name in wanted) > MAX_BATCH_BLOB_BYTES:
        raise PayloadTooLarge(f"a batch holds at most {MAX_BATCH_BLOB_BYTES} bytes of blobs")
    blobs = [SentBlob(digest, name, _read_exactly(stream, size)) for digest, size, name in wanted]
    if stream.read(1):
        raise malformed("the body is longer than its blobs")
    return blobs


def _listed_blob(item: object, max_blob: int) -> tuple[str, int, str]:
    """(digest, size, name) of one entry of the JSON line."""
    if not isinstance(item, dict):
        raise malformed("each blob is an object {hash, size, name}")
    size = item.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise malformed("a blob's size must be a whole number of bytes")
    if size > max_blob:
        raise PayloadTooLarge(f"blobs sent to a node are limited to {max_blob} bytes")
    name = item.get("name", "")
    if not isinstance(name, str):
        raise malformed("a blob's name must be a string")
    return parse_digest(item.get("hash")), size, clean_name(name)


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left:
        chunk = stream.read(min(left, BODY_CHUNK))
        if not chunk:
            raise malformed("the body ended before its last blob")
        chunks.append(chunk)
        left -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
