"""Master views: the reference's /register, /get, /list, and the cluster's endpoints.

``POST /assign`` and ``POST /nodes/register`` are mostly answered below Flask, by the
overlay (``app.master.overlay`` OVERLAY); their views say so, and answer everything the
overlay declines.
"""

from __future__ import annotations

import dataclasses

from flask import Blueprint, Response, jsonify, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from app.http.blob_headers import mimetype_of
from app.http.blobs import send_stream
from app.http.bodies import bounded_body, json_body
from app.http.peer import peer_watch
from app.http.readiness import metrics_answer, readiness_answer
from app.master.auth import caller_key, require_credentials
from app.master.readiness import master_problems
from app.master.service import master_recovery, master_service, node_streams, repair_now
from app.master.validation import parse_assign_count, parse_node, parse_registration
from app.storage.digests import parse_digest

bp = Blueprint("master", __name__)
# On every request of the app: it guards the Seedream blueprint's views too.
bp.before_app_request(require_credentials)


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
    args = request.args
    return jsonify(
        service.writes.store_upload(request.stream, request.content_type, args.get("hash"))
    )


@bp.put("/upload")
@bp.put("/upload/<path:name>")
def upload_raw(name: str = "") -> Response:
    name = request.args.get("name") or name
    return jsonify(
        master_service().writes.store_stream(request.stream, name, request.args.get("hash"))
    )


@bp.post("/uploads")
def begin_upload() -> Response:
    return jsonify(master_service().uploads.begin(json_body(), caller_key()))


@bp.get("/uploads/<upload_id>")
def upload_status(upload_id: str) -> Response:
    return jsonify(master_service().uploads.status(upload_id))


@bp.post("/uploads/<upload_id>/commit")
def commit_upload(upload_id: str) -> Response:
    return jsonify(master_service().uploads.commit(upload_id))


@bp.delete("/uploads/<upload_id>")
def abort_upload(upload_id: str) -> Response:
    return jsonify(master_service().uploads.abort(upload_id))


# overlaid: app.master.overlay OVERLAY
@bp.post("/assign")
def assign() -> Response:
    return jsonify(master_service().writes.assign(parse_assign_count(request.args.get("count"))))


@bp.get("/download")
def download() -> BaseResponse:
    service = master_service()
    record, node_url = service.reads.locate(request.args.get("hash"))
    if node_url is not None and request.args.get("proxy") not in ("1", "true"):
        return redirect(node_url, code=302)
    return send_stream(
        lambda start, stop: service.reader.iter_range(record, start, stop),
        size=record.size,
        etag=record.hash,
        mimetype=mimetype_of(record.name),
        download_name=record.name,
    )


@bp.get("/files/<file_hash>/blocks")
def file_blocks(file_hash: str) -> Response:
    return jsonify(master_service().reads.block_map(file_hash))


@bp.delete("/files/<file_hash>")
def delete_file(file_hash: str) -> Response:
    return jsonify(master_service().delete_file(file_hash))


@bp.get("/health")
def health() -> Response:
    return jsonify(master_service().health())


@bp.get("/ready")
def ready() -> tuple[Response, int]:
    return readiness_answer("master", master_problems(master_service()))


@bp.get("/metrics")
def metrics() -> Response:
    return metrics_answer()


@bp.get("/cluster/health")
def cluster_health() -> Response:
    return jsonify(master_service().cluster_health())


@bp.post("/cluster/repair")
def repair() -> Response:
    return jsonify(dataclasses.asdict(repair_now()))


@bp.get("/nodes")
def nodes() -> Response:
    return jsonify(master_service().directory.list_nodes())


@bp.get("/nodes/<node_id>/stream")
def node_stream(node_id: str) -> Response:
    held = node_streams().hold(
        *parse_node({"node": node_id, "url": request.args.get("url")}), peer_watch(request.environ)
    )
    return Response(held, mimetype="text/plain", headers={"Cache-Control": "no-store"})


@bp.post("/nodes/heartbeat")
def heartbeat() -> Response:
    return jsonify(master_service().directory.take_heartbeat(json_body()))


# overlaid: app.master.overlay OVERLAY
@bp.post("/nodes/register")
def register_copies() -> Response:
    return jsonify(master_service().register_copies(parse_registration(json_body())))


@bp.post("/nodes/inventory")
def inventory() -> Response:
    return jsonify(master_service().directory.take_inventory(json_body()))


@bp.post("/nodes/bad-copy")
def bad_copy() -> Response:
    return jsonify(master_service().directory.take_bad_copy(json_body()))


# ----- backup and recovery (README "Backup and recovery"; admin only) -----


@bp.post("/admin/snapshots")
def take_snapshot() -> Response:
    return jsonify(master_recovery().take_snapshot())


@bp.get("/admin/snapshots")
def list_snapshots() -> Response:
    return jsonify({"snapshots": master_recovery().snapshots.list()})


@bp.get("/admin/snapshots/<digest>")
def download_snapshot(digest: str) -> Response:
    data = master_recovery().snapshots.read(parse_digest(digest))
    return Response(
        data,
        mimetype="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{digest}.db.gz"'},
    )


@bp.post("/admin/restore")
def restore_snapshot() -> Response:
    snapshots = master_recovery().snapshots
    if request.args.get("latest") in ("1", "true"):
        return jsonify(snapshots.restore_latest())
    return jsonify(snapshots.restore(bounded_body(snapshots.max_bytes, "a snapshot")).to_dict())


@bp.get("/admin/recover")
def recovery_status() -> Response:
    return jsonify(master_recovery().status())


@bp.post("/admin/recover")
def recover() -> Response:
    return jsonify(master_recovery().recover())
