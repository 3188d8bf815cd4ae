"""Content addresses: a blob is named by the SHA-256 of its bytes, as 64 lower-case hex
characters. A digest becomes a file path on the nodes, so every role checks one here
before it reaches the filesystem or SQL."""

from __future__ import annotations

import re

from app.errors import InvalidHash

DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_NOT_A_DIGEST = "hash must be a SHA-256 digest: 64 hexadecimal characters"


def parse_digest(value: object) -> str:
    """Return the SHA-256 hex digest in ``value``, lower-cased; raise InvalidHash otherwise.

    The digest becomes a file path, so anything but 64 hex characters is refused here,
    before it reaches the filesystem. ``value`` may be any JSON value a client sent.
    """
    candidate = value.strip().lower() if isinstance(value, str) else ""
    if not DIGEST_RE.fullmatch(candidate):
        raise InvalidHash(_NOT_A_DIGEST)
    return candidate


def checked_digest(digest: str) -> str:
    """Return ``digest`` as it is if it is one; raise InvalidHash before a non-digest
    names a file to remove or move."""
    if not DIGEST_RE.fullmatch(digest):
        raise InvalidHash(_NOT_A_DIGEST)
    return digest
