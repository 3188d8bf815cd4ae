"""``GET /openapi.json`` on every role: the role's OpenAPI document, no credential needed."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from app.openapi.document import OPENAPI_PATH, openapi_document

bp = Blueprint("openapi", __name__)


@bp.get(OPENAPI_PATH)
def document() -> Response:
    return jsonify(openapi_document(current_app.config["ROLE"]))
