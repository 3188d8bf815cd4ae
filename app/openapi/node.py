"""A storage node's endpoints in OpenAPI (``app.node.routes``; ``GET /retrieve``,
``GET /file`` and a small ``PUT`` or ``POST /upload`` mostly answered below Flask, by the overlay
table ``app.node.overlay`` OVERLAY: marked ``x-overlay``)."""

from __future__ import annotations

from typing import Any

from app.cluster.blob_batches import BLOBS_MEDIA_TYPE
from app.openapi.components import (
    ANY_OBJECT,
    BINARY,
    BOOLEAN,
    CLIENT,
    CLUSTER,
    DIGEST,
    HASH,
    INTEGER,
    JSON_BODY,
    NODE_URL,
    NUMBER,
    OPEN,
    READINESS,
    STRING,
    UPLOADED,
    Operation,
    answer,
    array,
    bytes_request,
    json_request,
    obj,
    operation,
    param,
)

# The read token of a private copy, or the write token of a block URL (master-signed).
TOKEN = param("query", "token")
HASH_QUERY = param("query", "hash", DIGEST, required=True)
UPLOAD_PARAMETERS = [
    param("query", "hash", DIGEST),
    param("query", "kind", {"enum": ["file", "block"]}),
    *(param("query", name) for name in ("name", "replicate", "chain", "register", "private")),
    TOKEN,
]
# 404 from a private read without its token, 503 until the node first heard the key.
READ_FAILS = (*CLIENT, 401, 403, 404, 416, 503)
WRITE_FAILS = (*JSON_BODY, 401, 403, 409, 411, 415, 502, 503, 504, 507)
NODE_UPLOADED = obj(
    {"success": BOOLEAN, "hash": HASH, "name": STRING, "size": INTEGER, "node": STRING},
    {"kind": STRING, "deduplicated": BOOLEAN, "registered": BOOLEAN, **UPLOADED["properties"]},
)
BYTES = {"*/*": BINARY}
PRIVATE = param("query", "private")
# One blob of POST /blobs: stored (deduplicated: the node had it), or refused.
BLOB_RESULT = obj({"hash": HASH}, {"size": INTEGER, "deduplicated": BOOLEAN, "error": ANY_OBJECT})


def read(operation_id: str, summary: str) -> Operation:
    return operation(
        operation_id,
        summary,
        {**answer(200, media=BYTES), **answer(206, media=BYTES), **answer(304)},
        READ_FAILS,
        security=CLUSTER,
        parameters=[HASH_QUERY, TOKEN, param("header", "Range"), param("header", "If-None-Match")],
        x_overlay=True,
    )


def upload(operation_id: str, summary: str, media_type: str, **extra: Any) -> Operation:
    return operation(
        operation_id,
        summary,
        answer(200, NODE_UPLOADED),
        WRITE_FAILS,
        security=CLUSTER,
        parameters=UPLOAD_PARAMETERS,
        body=bytes_request(media_type),
        **extra,
    )


PATHS: dict[str, dict[str, Operation]] = {
    "/upload": {
        "post": upload(
            "uploadForm",
            "Store a file sent as multipart field 'file'",
            "multipart/form-data",
            x_overlay=True,
        ),
        "put": upload(
            "uploadRaw", "Store the raw body as a blob", "application/octet-stream", x_overlay=True
        ),
    },
    "/retrieve": {"get": read("retrieve", "A blob's bytes by its hash")},
    "/file": {
        "get": read("retrieveFile", "A file of several blocks, when this node holds every one")
    },
    "/replicate": {
        "post": operation(
            "replicate",
            "Pull a copy from another node of the cluster",
            answer(200, ANY_OBJECT),
            (*JSON_BODY, 401, 403, 404, 409, 502, 503, 504, 507),
            security=CLUSTER,
            body=json_request(obj({"hash": DIGEST, "source": NODE_URL}, {"name": STRING})),
        )
    },
    "/blobs": {
        "post": operation(
            "storeBlobs",
            "Store many small blobs at once, each checked against its hash, all durable "
            "(one sync) before the answer: a line of JSON naming them, "
            '{"blobs": [{"hash", "size", "name"}, ...]}, then their bytes in that order',
            answer(200, obj({"node": STRING, "results": array(BLOB_RESULT)})),
            (*JSON_BODY, 401, 403, 507),
            security=CLUSTER,
            parameters=[param("query", "kind", {"enum": ["file", "block"]}), PRIVATE],
            body=bytes_request(BLOBS_MEDIA_TYPE),
            x_overlay=True,
        )
    },
    "/blobs/digest": {
        "post": operation(
            "digestBlobs",
            "The SHA-256 and size of blobs of this node laid end to end (an account "
            "upload's whole-file hash, for the master's commit)",
            answer(200, obj({"hash": HASH, "size": INTEGER})),
            (*JSON_BODY, 401, 403, 404),
            security=CLUSTER,
            parameters=[HASH_QUERY, TOKEN],
            body=json_request(obj({"blocks": array(DIGEST)})),
        )
    },
    "/blobs/{digest}": {
        "delete": operation(
            "deleteBlob",
            "Delete this node's copy of a blob",
            answer(200, ANY_OBJECT),
            (*CLIENT, 401, 403, 404, 409),
            security=CLUSTER,
            parameters=[param("path", "digest", DIGEST)],
        )
    },
    "/health": {
        "get": operation(
            "health",
            "Alive: the node's own figures",
            answer(200, obj({"status": STRING, "role": {"const": "node"}, "node": STRING})),
            CLIENT,
            security=OPEN,
        )
    },
    "/ready": {
        "get": operation(
            "ready",
            "Whether the node can serve (catalogue reachable, disk writable)",
            {**answer(200, READINESS), **answer(503, READINESS)},
            CLIENT,
            security=OPEN,
        )
    },
    "/metrics": {
        "get": operation(
            "metrics",
            "The node's metrics in Prometheus text form",
            answer(200, media={"text/plain": {"schema": STRING}}),
            CLIENT,
            security=OPEN,
        )
    },
    "/scrub": {
        "post": operation(
            "scrub",
            "Run one scrub pass now: every blob (or ?limit=) read and checked",
            answer(
                200,
                obj(
                    {
                        "checked": INTEGER,
                        "bytes": INTEGER,
                        "corrupt": array(STRING),
                        "missing": array(STRING),
                        "seconds": NUMBER,
                    },
                    {"interrupted": BOOLEAN},
                ),
            ),
            (*CLIENT, 401, 403, 409),
            security=CLUSTER,
            parameters=[param("query", "limit", INTEGER)],
        )
    },
}
