"""The one error hierarchy of Mini-Dropbox; rendered as JSON by ``app.http.json_answers``.

AppError (500 internal_error)
├── BadRequest (400 bad_request)
│   ├── MissingField (400 missing_field)
│   ├── InvalidField (400 invalid_field)
│   ├── InvalidHash (400 invalid_hash)
│   ├── HashMismatch (400 hash_mismatch)
│   └── InvalidSnapshot (400 invalid_snapshot)
├── Unauthorized (401 missing_credentials)
├── Forbidden (403 forbidden)
├── NotFound (404 not_found)
│   ├── BlobNotFound (404 blob_not_found)
│   ├── FileNotFound (404 file_not_found)
│   └── UploadNotFound (404 upload_not_found)
├── RequestTimeout (408 request_timeout)
├── Conflict (409 conflict)
├── Gone (410 gone)
├── PreconditionFailed (412 precondition_failed)
├── PayloadTooLarge (413 payload_too_large)
├── UnsupportedMediaType (415 unsupported_media_type)
├── RangeNotSatisfiable (416 range_not_satisfiable)
├── UnprocessableEntity (422 unprocessable_entity)
├── TooManyRequests (429 too_many_requests)
├── UpstreamError (502 upstream_error)
├── ServiceUnavailable (503 service_unavailable)
├── UpstreamTimeout (504 upstream_timeout)
└── InsufficientStorage (507 insufficient_storage)
    └── QuotaExceeded (507 quota_exceeded)

Engines raise these too: a status and a code per class is cheaper than mapping
engine errors to HTTP at every call site, and keeps the JSON shape uniform.
"""

from __future__ import annotations

import json
from typing import Any


class AppError(Exception):
    """An error with an HTTP status and a stable snake_case code."""

    status: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.details = details or {}

    def to_dict(self) -> dict[str, Any]:
        """Render the JSON error body."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        body.update(self.details)
        return {"error": body}


class BadRequest(AppError, ValueError):
    status, code = 400, "bad_request"


class BodyEndedEarly(BadRequest):
    """The client closed its side before sending the body its Content-Length announced."""

    code = "client_disconnected"


class MissingField(BadRequest):
    code = "missing_field"

    def __init__(self, field: str, message: str | None = None) -> None:
        super().__init__(message or f"'{field}' is required", details={"field": field})


class InvalidField(BadRequest):
    code = "invalid_field"

    def __init__(self, field: str, message: str, *, code: str | None = None) -> None:
        super().__init__(message, code=code, details={"field": field})


class InvalidSnapshot(BadRequest):
    """Bytes given to restore that are not a snapshot of the user trees."""

    code = "invalid_snapshot"


class InvalidHash(BadRequest):
    code = "invalid_hash"


class HashMismatch(BadRequest):
    code = "hash_mismatch"


class Unauthorized(AppError):
    """No credentials, or ones that name nobody (401: log in, or send a token)."""

    status, code = 401, "missing_credentials"


class Forbidden(AppError):
    """Credentials that do not allow this (403)."""

    status, code = 403, "forbidden"


class NotFound(AppError, LookupError):
    status, code = 404, "not_found"


class BlobNotFound(NotFound):
    code = "blob_not_found"


class FileNotFound(NotFound):
    code = "file_not_found"


class UploadNotFound(NotFound):
    code = "upload_not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class Gone(AppError):
    status, code = 410, "gone"


class PreconditionFailed(AppError):
    status, code = 412, "precondition_failed"


class RangeNotSatisfiable(AppError):
    status, code = 416, "range_not_satisfiable"


class RequestTimeout(AppError, TimeoutError):
    status, code = 408, "request_timeout"


# A body read waited longer than READ_TIMEOUT: said alike by the Flask views and the fast path.
BODY_STALLED = "the client stopped sending the request body"


class PayloadTooLarge(AppError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(AppError):
    status, code = 415, "unsupported_media_type"


class UnprocessableEntity(AppError):
    status, code = 422, "unprocessable_entity"


class TooManyRequests(AppError):
    status, code = 429, "too_many_requests"


class UpstreamError(AppError):
    status, code = 502, "upstream_error"


class ServiceUnavailable(AppError):
    status, code = 503, "service_unavailable"


class UpstreamTimeout(AppError, TimeoutError):
    status, code = 504, "upstream_timeout"


class InsufficientStorage(AppError, OSError):
    status, code = 507, "insufficient_storage"


class QuotaExceeded(InsufficientStorage):
    code = "quota_exceeded"


def error_code_of(response: Any) -> str | None:
    """The ``error.code`` of an HTTP response carrying our JSON error body, if it is one
    (``response`` is a ``requests.Response``: any object with ``json()``; or the body's
    bytes)."""
    try:
        body = json.loads(response) if isinstance(response, bytes) else response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None
