"""Feed cursors: opaque strings that carry a position in one user's change feed and the
folder followed (its scope).

A cursor names its user so that one user's cursor is refused for another; it needs no
signature, since it grants nothing: every read it leads to is of the caller's own feed.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from app.errors import BadRequest
from app.userfiles.paths import normalize_path

PREFIX = "c1."
# Far more than any cursor made here (a path is at most 1 KiB of UTF-8).
MAX_CURSOR_LENGTH = 4_096


class InvalidCursor(BadRequest):
    code = "invalid_cursor"


def make_cursor(user_id: int, position: int, scope: str) -> str:
    raw = json.dumps([user_id, position, scope], separators=(",", ":")).encode()
    return PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def read_cursor(user_id: int, cursor: Any) -> tuple[int, str]:
    """The position and scope of ``cursor``; 400 invalid_cursor for anything this module
    did not make for ``user_id``."""
    if not isinstance(cursor, str) or not cursor:
        raise InvalidCursor("send the cursor that /api/tree or /api/changes answered")
    if not cursor.startswith(PREFIX) or len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor("this is not a cursor of /api/changes")
    body = cursor[len(PREFIX) :]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidCursor("this is not a cursor of /api/changes") from None
    if not (
        isinstance(decoded, list)
        and len(decoded) == 3
        and all(type(value) is int for value in decoded[:2])
        and isinstance(decoded[2], str)
        and decoded[1] >= 0
    ):
        raise InvalidCursor("this is not a cursor of /api/changes")
    owner, position, scope = decoded
    if owner != user_id:
        raise InvalidCursor("this cursor is another account's")
    if scope != "/" and normalize_path(scope) != scope:
        raise InvalidCursor("this is not a cursor of /api/changes")
    return position, scope
