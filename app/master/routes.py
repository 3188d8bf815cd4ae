"""Master views: the reference's /register, /get, /list, and the cluster's endpoints."""

from __future__ import annotations

import dataclasses
import mimetypes

from flask import Response, jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from app.http import IMMUTABLE, json_body
from app.master import bp
from app.master.service import master_service, repair_now


@bp.post("/register")
def register() -> Response:
    return jsonify(master_service().register_file(json_body()))


@bp.get("/get")
def get() -> Response:
    return jsonify(master_service().describe_file(request.args.get("hash")))


@bp.get("/list")
def list_files() -> Response:
    return jsonify([record.to_dict() for record in master_service().list_files()])


@bp.post("/upload")
def upload() -> Response:
    service = master_service()
    return jsonify(
        service.store_upload(request.stream, request.content_type, request.content_length)
    )


@bp.post("/assign")
def assign() -> Response:
    count = request.args.get("count", type=int)
    return jsonify(master_service().assign(count))


@bp.get("/download")
def download() -> BaseResponse:
    service = master_service()
    if request.args.get("proxy") not in ("1", "true"):
        return redirect(service.locate(request.args.get("hash")), code=302)
    record, data = service.read_verified(request.args.get("hash"))
    mimetype = mimetypes.guess_type(record.name, strict=False)[0] or "application/octet-stream"
    response = Response(data, mimetype=mimetype)
    response.headers["ETag"] = f'"{record.hash}"'
    response.headers["Cache-Control"] = IMMUTABLE
    return response.make_conditional(request, accept_ranges=True, complete_length=len(data))


@bp.delete("/files/<file_hash>")
def delete_file(file_hash: str) -> Response:
    return jsonify(master_service().delete_file(file_hash))


@bp.get("/health")
def health() -> Response:
    return jsonify(master_service().health())


@bp.get("/cluster/health")
def cluster_health() -> Response:
    return jsonify(master_service().cluster_health())


@bp.post("/cluster/repair")
def repair() -> Response:
    return jsonify(dataclasses.asdict(repair_now()))


@bp.get("/nodes")
def nodes() -> Response:
    return jsonify(master_service().list_nodes())


@bp.post("/nodes/heartbeat")
def heartbeat() -> Response:
    return jsonify(master_service().take_heartbeat(json_body()))


@bp.post("/nodes/inventory")
def inventory() -> Response:
    return jsonify(master_service().take_inventory(json_body()))


@bp.post("/nodes/bad-copy")
def bad_copy() -> Response:
    return jsonify(master_service().take_bad_copy(json_body()))
