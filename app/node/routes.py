"""Node views: the reference's /upload, /retrieve and /health."""

from __future__ import annotations

from flask import Response, jsonify, request, send_file

from app.node import bp
from app.node.service import node_service

ONE_YEAR = 365 * 24 * 3600


@bp.post("/upload")
def upload() -> Response:
    result = node_service().store_upload(
        request.stream, request.content_type, request.content_length, request.args.get("hash")
    )
    return jsonify(result)


@bp.get("/retrieve")
def retrieve() -> Response:
    blob = node_service().open_blob(request.args.get("hash"))
    response = send_file(
        blob.path,
        mimetype=blob.mimetype,
        download_name=blob.name,
        conditional=True,
        etag=blob.digest,
        max_age=ONE_YEAR,
    )
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response


@bp.get("/health")
def health() -> Response:
    return jsonify(node_service().health())
