"""JSON answers spelled once, for the Flask views and the overlay below them (pure Python).

The Flask error handlers (``app.http.rendering``) and the overlay's answers
(``app.server.overlay``) both render an error through ``error_answer``, so that the same
failure gets the same status, headers and bytes whichever loop answered. ``json_bytes``
spells a payload as Flask's ``jsonify`` does in this app (compact, keys in the order the
code built them, ASCII only, a final newline).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from app.errors import AppError


def json_bytes(payload: Any) -> bytes:
    """``payload`` as the bytes of a JSON answer."""
    return (json.dumps(payload, separators=(",", ":")) + "\n").encode()


@dataclass(frozen=True)
class ErrorAnswer:
    """A rendered error: status, headers other than Content-Type and -Length, body."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def failure_answer(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> ErrorAnswer:
    """``{"error": {"code", "message"}}`` with ``status``: a failure that is no AppError."""
    body = json_bytes({"error": {"code": code, "message": message}})
    return ErrorAnswer(status, body, dict(headers or {}))


def error_answer(exc: AppError) -> ErrorAnswer:
    """An AppError as its answer: its status, headers and ``to_dict()`` body."""
    return ErrorAnswer(exc.status, json_bytes(exc.to_dict()), dict(exc.headers))


# Whatever failed, the body says nothing of it (the log has the traceback).
INTERNAL_ERROR = failure_answer(500, "internal_error", "internal server error")
