"""The wire format of a node's ``POST /blobs``: many small blobs in one request (no
Flask); ``app.node.batches`` reads it, ``NodeClient.put_blobs`` writes it."""

from __future__ import annotations

import json
from collections.abc import Sequence

# ``POST /blobs`` (many small blobs in one request, app/node/batches.py): a line of JSON
# naming each blob, ``{"blobs": [{"hash", "size", "name"}, ...]}``, then their bytes one
# after the other, in that order.
BLOBS_MEDIA_TYPE = "application/vnd.mdbx.blobs"
# Per request: blobs, bytes of the blobs, bytes of the JSON line.
MAX_BATCH_BLOBS = 1_000
MAX_BATCH_BLOB_BYTES = 64 * 1024 * 1024
MAX_BATCH_HEADER_BYTES = 2 * 1024 * 1024
BLOBS_HEADERS = {"Content-Type": BLOBS_MEDIA_TYPE}


def encode_blobs(blobs: Sequence[tuple[str, str, bytes]]) -> bytes:
    """The body of ``POST /blobs`` for these (digest, name, bytes)."""
    header = {"blobs": [{"hash": d, "size": len(b), "name": n} for d, n, b in blobs]}
    line = json.dumps(header, separators=(",", ":")).encode() + b"\n"
    return b"".join([line, *(data for _digest, _name, data in blobs)])
