"""Seedream views: ``POST /seedream/generate`` with the reference's multipart fields."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request, url_for

from app.seedream.form import read_form
from app.seedream.service import seedream_service

bp = Blueprint("seedream", __name__, url_prefix="/seedream")

# Proxies must pass each event on as it comes, not buffer the stream.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@bp.post("/generate")
def generate() -> Response:
    service = seedream_service()
    service.check_configured()  # 503 before reading a body that could not be used
    job = service.prepare(read_form(request))
    sink = service.catalogue_sink(url_for("master.download", _external=True))
    if job.stream:
        events = service.stream(job, sink)
        return Response(events, mimetype="text/event-stream", headers=SSE_HEADERS)
    return jsonify(service.generate(job, sink))
