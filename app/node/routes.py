"""Node views: the reference's /upload, /retrieve and /health, and the cluster's own.

The plain requests of four of them are mostly answered below Flask, by the overlay
(``app.node.overlay`` OVERLAY): each such view says so, and answers everything the
overlay declines.
"""

from __future__ import annotations

import dataclasses

from flask import Blueprint, Response, jsonify, request

from app.errors import InvalidField
from app.http.blobs import send_blob, send_stream
from app.http.bodies import json_body
from app.http.readiness import metrics_answer, readiness_answer
from app.node.auth import require_credentials
from app.node.batches import read_blob_batch
from app.node.readiness import node_problems
from app.node.reads import MAX_DIGEST_BLOBS
from app.node.service import node_service
from app.node.uploads import FormBody, RawBody, parse_kind, parse_upload_options

bp = Blueprint("node", __name__)
bp.before_request(require_credentials)


# overlaid: app.node.overlay OVERLAY (both, for bodies up to its limit)
@bp.route("/upload", methods=["POST", "PUT"])
def upload() -> Response:
    options = parse_upload_options(request.args)
    if request.method == "PUT":
        body: RawBody | FormBody = RawBody(request.stream, request.content_length)
    else:
        body = FormBody(request.stream, request.content_type, request.content_length)
    return jsonify(node_service().store_upload(body, options))


# overlaid: app.node.overlay OVERLAY (for bodies up to its limit)
@bp.post("/blobs")
def store_blobs() -> Response:
    """Many small blobs a master writes at once, durable together (``app.node.batches``)."""
    service = node_service()
    blobs = read_blob_batch(
        request.stream,
        request.content_type,
        request.content_length,
        max_blob=service.max_upload_size,
    )
    kind = parse_kind(request.args.get("kind", "file"))
    private = request.args.get("private", "0") in ("1", "true")
    return jsonify(service.store_blobs(blobs, kind=kind, private=private))


@bp.post("/blobs/digest")
def digest_blobs() -> Response:
    """The SHA-256 of blobs of this node end to end (``{"blocks": [hash, ...]}``): an
    account upload's whole-file hash, for the master's commit."""
    blocks = json_body().get("blocks")
    if not isinstance(blocks, list) or len(blocks) > MAX_DIGEST_BLOBS:
        raise InvalidField("blocks", f"'blocks' lists at most {MAX_DIGEST_BLOBS} hashes")
    return jsonify(node_service().reads.digest_of(blocks, request.args.get("hash")))


@bp.post("/replicate")
def replicate() -> Response:
    return jsonify(node_service().pull(json_body()))


@bp.delete("/blobs/<digest>")
def delete_blob(digest: str) -> Response:
    return jsonify(node_service().delete_blob(digest))


# overlaid: app.node.overlay OVERLAY
@bp.get("/retrieve")
def retrieve() -> Response:
    blob = node_service().reads.open_blob(request.args.get("hash"))
    return send_blob(blob.path, etag=blob.digest, mimetype=blob.mimetype, download_name=blob.name)


# overlaid: app.node.overlay OVERLAY
@bp.get("/file")
def retrieve_file() -> Response:
    file = node_service().reads.open_file(request.args.get("hash"))
    return send_stream(
        file.iter_range,
        size=file.size,
        etag=file.digest,
        mimetype=file.mimetype,
        download_name=file.name,
    )


@bp.get("/health")
def health() -> Response:
    return jsonify(node_service().health())


@bp.get("/ready")
def ready() -> tuple[Response, int]:
    return readiness_answer("node", node_problems(node_service()))


@bp.get("/metrics")
def metrics() -> Response:
    return metrics_answer()


@bp.post("/scrub")
def scrub() -> Response:
    limit = request.args.get("limit", type=int)
    return jsonify(dataclasses.asdict(node_service().scrubber.run_pass(limit)))
