"""Node views: the reference's /upload, /retrieve and /health."""

from __future__ import annotations

from flask import Response, jsonify, request

from app.http import send_blob
from app.node import bp
from app.node.service import node_service


@bp.post("/upload")
def upload() -> Response:
    result = node_service().store_upload(
        request.stream, request.content_type, request.content_length, request.args.get("hash")
    )
    return jsonify(result)


@bp.get("/retrieve")
def retrieve() -> Response:
    blob = node_service().open_blob(request.args.get("hash"))
    return send_blob(blob.path, etag=blob.digest, mimetype=blob.mimetype, download_name=blob.name)


@bp.get("/health")
def health() -> Response:
    return jsonify(node_service().health())
