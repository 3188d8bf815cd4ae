"""Master views: the reference's /register, /get, /list, plus /health and node reports."""

from __future__ import annotations

from flask import Response, jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from app.http import json_body
from app.master import bp
from app.master.service import master_service


@bp.post("/register")
def register() -> Response:
    record = master_service().register_file(json_body())
    return jsonify(
        {"message": "File registered successfully", "hash": record.hash, "file": record.to_dict()}
    )


@bp.get("/get")
def get() -> Response:
    return jsonify(master_service().get_file(request.args.get("hash")).to_dict())


@bp.get("/download")
def download() -> BaseResponse:
    return redirect(master_service().locate(request.args.get("hash")), code=302)


@bp.get("/list")
def list_files() -> Response:
    return jsonify([record.to_dict() for record in master_service().list_files()])


@bp.get("/health")
def health() -> Response:
    return jsonify(master_service().health())


@bp.get("/nodes")
def nodes() -> Response:
    return jsonify(master_service().list_nodes())


@bp.post("/nodes/inventory")
def inventory() -> Response:
    return jsonify(master_service().take_inventory(json_body()))
