"""Request bodies in the Flask views: the JSON object of a request, read up to its limit."""

from __future__ import annotations

from typing import Any

from flask import g, request

from app.errors import (
    AppError,
    PayloadTooLarge,
)
from app.http.jsonbody import body_limit, check_json_type, decode_object

# gunicorn reads up to 1 MiB per recv for a body of known length; reading less at a time
# makes it copy the rest of its buffer at every read.
BODY_CHUNK = 1024 * 1024


# Where json_body keeps its outcome for the rest of the request (in flask.g).
_JSON_BODY = "mdbx_json_body"


def json_body() -> dict[str, Any]:
    """Return the request's JSON object, read up to its endpoint's limit (``BODY_LIMITS``).

    400 invalid_json for anything ``decode_object`` refuses; 413 before reading a body
    whose Content-Length is over the limit, and as soon as a chunked one passes it. The
    outcome is kept for the request: the login rate limit reads the body before the view.
    """
    outcome: dict[str, Any] | AppError | None = g.get(_JSON_BODY)
    if outcome is None:
        try:
            outcome = decode_object(_read_json_bytes(body_limit(request.endpoint)))
        except AppError as exc:
            outcome = exc
        setattr(g, _JSON_BODY, outcome)
    if isinstance(outcome, AppError):
        raise outcome
    return outcome


def _read_json_bytes(limit: int) -> bytes:
    check_json_type(request.content_type)
    return bounded_body(limit, "a JSON body")


def bounded_body(limit: int, what: str = "a body") -> bytes:
    """The request's whole body, at most ``limit`` bytes (413 before reading one whose
    Content-Length says more, and as soon as a chunked one passes it)."""
    too_large = PayloadTooLarge(f"{what} here is limited to {limit} bytes")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    while chunk := request.stream.read(min(BODY_CHUNK, limit + 1 - size)):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
