"""tus 1.0 views (``/api/tus/``): parse the protocol's headers into the resumable-upload
service's arguments (``app.userfiles``), render its answers as headers.

Every answer carries ``Tus-Resumable``; a request without the version spoken here gets
412 (OPTIONS excepted: it is how a client learns it). Errors keep the JSON error body.
``X-HTTP-Method-Override`` on a POST stands for the method a proxy or browser would not
pass (PATCH, DELETE, HEAD).
"""

from __future__ import annotations

from typing import IO, cast

from flask import Blueprint, Response, request

from app.errors import BadRequest, MissingField, UnsupportedMediaType
from app.http.identity import current_user
from app.metadata.resumable import ResumableUpload
from app.tus.protocol import (
    BLOCK_SIZE_HEADER,
    CHUNK_SIZE_HEADER,
    OFFSET_CONTENT_TYPE,
    TUS_EXTENSIONS,
    TUS_VERSION,
    DisconnectTolerantBody,
    check_version,
    http_date,
    parse_concat,
    parse_count,
    parse_metadata,
)
from app.userfiles.current import resumable_uploads
from app.userfiles.resumable import MAX_UPLOAD_LENGTH

bp = Blueprint("tus", __name__)

COLLECTION = "/api/tus/"
METHODS = ["OPTIONS", "POST", "HEAD", "PATCH", "DELETE"]


def effective_method() -> str:
    override = request.headers.get("X-HTTP-Method-Override", "").strip().upper()
    return override if request.method == "POST" and override else request.method


@bp.before_request
def _check_version() -> None:
    if effective_method() != "OPTIONS":
        check_version(request.headers.get("Tus-Resumable"))


@bp.after_request
def _tus_headers(response: Response) -> Response:
    response.headers["Tus-Resumable"] = TUS_VERSION
    return response


@bp.route("/api/tus", methods=METHODS, provide_automatic_options=False)
@bp.route(COLLECTION, methods=METHODS, provide_automatic_options=False)
def collection() -> Response:
    method = effective_method()
    if method == "OPTIONS":
        return _capabilities()
    if method != "POST":
        raise BadRequest(f"{method} goes to an upload's URL", code="method_not_allowed")
    return _create()


@bp.route(f"{COLLECTION}<upload_id>", methods=METHODS, provide_automatic_options=False)
def upload(upload_id: str) -> Response:
    method = effective_method()
    if method == "OPTIONS":
        return _capabilities()
    if method == "HEAD":
        return _status(upload_id)
    if method == "PATCH":
        return _append(upload_id)
    if method == "DELETE":
        resumable_uploads().terminate(current_user(), upload_id)
        return Response(status=204)
    raise BadRequest(f"{method} is not a tus request on an upload", code="method_not_allowed")


def _capabilities() -> Response:
    return Response(
        status=204,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(MAX_UPLOAD_LENGTH),
            CHUNK_SIZE_HEADER: str(resumable_uploads().chunk_bytes),
            BLOCK_SIZE_HEADER: str(resumable_uploads().block_bytes),
        },
    )


def _create() -> Response:
    user = current_user()
    if request.headers.get("Upload-Defer-Length"):
        raise BadRequest("send Upload-Length: deferred lengths are not supported here")
    concat = parse_concat(request.headers.get("Upload-Concat"), COLLECTION)
    raw_metadata = request.headers.get("Upload-Metadata", "")
    metadata = parse_metadata(raw_metadata)
    service = resumable_uploads()
    if concat:  # final: its length is its partials'
        if request.headers.get("Upload-Length"):
            raise BadRequest("a final upload has no Upload-Length: its partials make it")
        created = service.concatenate(user, _path(metadata), concat, raw_metadata)
        return _located(_progress(created, status=201), created)
    length = parse_count("Upload-Length", request.headers.get("Upload-Length"))
    if concat is None:
        created = service.create(user, _path(metadata), length, raw_metadata)
    else:
        created = service.create_partial(user, length, raw_metadata)
    if request.content_length or request.headers.get("Transfer-Encoding"):
        # creation-with-upload: the first chunk rides along.
        _check_content_type()
        created = _store_body(created.id, 0)
    response = _located(_progress(created, status=201), created)
    response.headers[CHUNK_SIZE_HEADER] = str(service.chunk_bytes)
    return response


def _path(metadata: dict[str, str]) -> str:
    path = metadata.get("path") or ("/" + metadata["filename"] if metadata.get("filename") else "")
    if not path:
        raise MissingField("path", "Upload-Metadata must name a 'path' (or a 'filename')")
    return path


def _located(response: Response, upload: ResumableUpload) -> Response:
    response.headers["Location"] = f"{COLLECTION}{upload.id}"
    return response


def _status(upload_id: str) -> Response:
    found = resumable_uploads().status(current_user(), upload_id)
    response = _progress(found, status=200)
    response.headers["Upload-Length"] = str(found.length)
    response.headers["Cache-Control"] = "no-store"
    if found.metadata:
        response.headers["Upload-Metadata"] = found.metadata
    if found.is_partial:
        response.headers["Upload-Concat"] = "partial"
    return response


def _append(upload_id: str) -> Response:
    current_user()
    _check_content_type()
    offset = parse_count("Upload-Offset", request.headers.get("Upload-Offset"))
    return _progress(_store_body(upload_id, offset), status=204)


def _store_body(upload_id: str, offset: int) -> ResumableUpload:
    body = DisconnectTolerantBody(request.stream)
    # Cast: the service only ever calls read().
    stream = cast(IO[bytes], body)
    stored = resumable_uploads().append(
        current_user(), upload_id, offset, stream, request.content_length
    )
    if body.stalled is not None:
        raise body.stalled  # what arrived is kept; this connection is closed
    return stored


def _check_content_type() -> None:
    if request.mimetype != OFFSET_CONTENT_TYPE:
        raise UnsupportedMediaType(f"a PATCH's body is sent as {OFFSET_CONTENT_TYPE}")


def _progress(upload: ResumableUpload, *, status: int) -> Response:
    return Response(
        status=status,
        headers={
            "Upload-Offset": str(upload.offset),
            "Upload-Expires": http_date(upload.expires_at),
        },
    )
