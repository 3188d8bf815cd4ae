"""The tus 1.0 front end (``/api/tus/``, ``app.tus.routes``) in OpenAPI: its answers are
headers (``Upload-Offset``, ``Location``...), its errors the JSON error body.

Each route takes every tus method, as Flask declares it; the collection answers 400
``method_not_allowed`` to those meant for an upload's URL.
"""

from __future__ import annotations

from app.openapi.components import (
    CLIENT,
    INTEGER,
    OPEN,
    USER,
    Operation,
    Schema,
    answer,
    operation,
    param,
)
from app.tus.protocol import OFFSET_CONTENT_TYPE, TUS_VERSION

VERSION = param("header", "Tus-Resumable", {"const": TUS_VERSION}, required=True)
OVERRIDE = param("header", "X-HTTP-Method-Override")
UPLOAD_ID = param("path", "upload_id")
# 412: another tus version; 410: an upload expired or ended.
FAILS = (*CLIENT, 401, 403, 404, 409, 410, 412, 413, 415)
WRITE_FAILS = (*FAILS, 502, 503, 504, 507)
CHUNK: Schema = {
    "required": False,
    "content": {OFFSET_CONTENT_TYPE: {"schema": {"format": "binary"}}},
}


def capabilities(operation_id: str, *parameters: Schema) -> Operation:
    return operation(
        operation_id,
        "What the server speaks: Tus-Version, Tus-Extension, Tus-Max-Size",
        answer(204),
        CLIENT,
        security=OPEN,
        parameters=parameters,
    )


def refused(operation_id: str, method: str) -> Operation:
    return operation(
        operation_id,
        f"{method} goes to an upload's URL: 400 method_not_allowed",
        {},
        FAILS,
        security=USER,
        parameters=[VERSION],
    )


def collection(prefix: str) -> dict[str, Operation]:
    """The collection's operations (``/api/tus`` and ``/api/tus/``)."""
    return {
        "options": capabilities(f"{prefix}Options"),
        "post": operation(
            f"{prefix}Create",
            "Create an upload (Upload-Length, Upload-Metadata 'path' or 'filename')",
            answer(201),
            WRITE_FAILS,
            security=USER,
            parameters=[
                VERSION,
                OVERRIDE,
                param("header", "Upload-Length", INTEGER),
                param("header", "Upload-Metadata"),
            ],
            body=CHUNK,
        ),
        "head": refused(f"{prefix}Head", "HEAD"),
        "patch": refused(f"{prefix}Patch", "PATCH"),
        "delete": refused(f"{prefix}Delete", "DELETE"),
    }


PATHS: dict[str, dict[str, Operation]] = {
    "/api/tus": collection("tusCollectionBare"),
    "/api/tus/": collection("tusCollection"),
    "/api/tus/{upload_id}": {
        "options": capabilities("tusUploadOptions", UPLOAD_ID),
        "head": operation(
            "tusStatus",
            "An upload's offset, length and metadata",
            answer(200),
            FAILS,
            security=USER,
            parameters=[VERSION, UPLOAD_ID],
        ),
        "patch": operation(
            "tusAppend",
            "Append the body at Upload-Offset",
            answer(204),
            WRITE_FAILS,
            security=USER,
            parameters=[VERSION, UPLOAD_ID, param("header", "Upload-Offset", INTEGER)],
            body=CHUNK,
        ),
        "delete": operation(
            "tusTerminate",
            "End an upload and drop what it stored",
            answer(204),
            FAILS,
            security=USER,
            parameters=[VERSION, UPLOAD_ID],
        ),
        "post": operation(
            "tusOverride",
            "A POST standing for X-HTTP-Method-Override (PATCH, DELETE, HEAD)",
            {**answer(200), **answer(204)},
            WRITE_FAILS,
            security=USER,
            parameters=[VERSION, UPLOAD_ID, {**OVERRIDE, "required": True}],
            body=CHUNK,
        ),
    },
}
