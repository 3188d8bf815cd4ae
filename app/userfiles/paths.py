"""User paths: one spelling per file, and nothing that could climb out of a namespace.

A path is absolute, in Unicode NFC (macOS sends NFD: "café" typed on two systems is one
file), without empty, "." or ".." segments, control characters or NUL. Refusing ".."
rather than resolving it keeps a client's mistake (or probe) from landing anywhere.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from app.errors import BadRequest, MissingField
from app.metadata.master_metadata import PATH_LENGTH

MAX_SEGMENT_BYTES = 255


class InvalidPath(BadRequest):
    code = "invalid_path"


def normalize_path(raw: Any, field: str = "path") -> str:
    """Return the canonical form of a user path; 400 invalid_path otherwise."""
    if raw is None or raw == "":
        raise MissingField(field)
    if not isinstance(raw, str):
        raise InvalidPath(f"'{field}' must be a string", details={"field": field})
    text = unicodedata.normalize("NFC", raw)
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise InvalidPath(
            f"'{field}' contains a control character or NUL", details={"field": field}
        )
    segments = [segment for segment in text.split("/") if segment]
    for segment in segments:
        if segment in (".", ".."):
            raise InvalidPath(
                f"'{field}' may not contain '.' or '..' segments", details={"field": field}
            )
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise InvalidPath(
                f"a name in '{field}' is longer than {MAX_SEGMENT_BYTES} bytes",
                code="path_too_long",
                details={"field": field},
            )
    path = "/" + "/".join(segments)
    if len(path.encode()) > PATH_LENGTH:
        raise InvalidPath(
            f"'{field}' is longer than {PATH_LENGTH} bytes",
            code="path_too_long",
            details={"field": field},
        )
    return path
