"""The master's own endpoints in OpenAPI: the reference API (``/register``, ``/get``,
``/list``), the global catalogue's writes and reads, the block upload protocol, probes
and Seedream (``app.master.routes``, ``app.seedream.routes``; the cluster's endpoints
are ``app.openapi.cluster``)."""

from __future__ import annotations

from app.openapi.components import (
    ADMIN,
    ANY_OBJECT,
    BINARY,
    BOOLEAN,
    CLIENT,
    COUNT,
    DIGEST,
    FILE_KEY,
    FILE_RECORD,
    INTEGER,
    JSON_BODY,
    NODE_ID,
    NUMBER,
    READINESS,
    STRING,
    UPLOADED,
    Operation,
    Schema,
    answer,
    array,
    bytes_request,
    json_request,
    obj,
    operation,
    param,
)

HASH_QUERY = param("query", "hash", FILE_KEY, required=True)
OPTIONAL_HASH = param("query", "hash", DIGEST)
# What a write through the master may meet: no nodes to place on, nodes failing, full.
WRITE_FAILS = (*JSON_BODY, 409, 411, 415, 502, 503, 504, 507)
READ_HEADERS = [param("header", "Range"), param("header", "If-None-Match")]
BYTES = {"*/*": BINARY}

LOCATION = obj({"node": STRING, "url": STRING, "state": STRING})
DESCRIBED = obj(
    {"hash": FILE_KEY, "name": STRING, "size": INTEGER, "replicas": array(STRING)},
    {"locations": array(LOCATION)},
)
UPLOAD_STATE = obj(
    {"upload_id": {"type": ["string", "null"]}, "missing": array(ANY_OBJECT)},
    {"complete": BOOLEAN, "file": ANY_OBJECT, "expires_at": NUMBER},
)
# A registered key's one block is the key itself.
BLOCK = obj({"hash": FILE_KEY, "size": INTEGER, "offset": INTEGER, "urls": array(STRING)})
GENERATE_FORM: Schema = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "prompt": STRING,
                    "model": STRING,
                    "size": STRING,
                    "stream": STRING,
                    "image1": {"format": "binary"},
                    "image2": {"format": "binary"},
                },
            }
        }
    },
}
GENERATED = obj({}, {"images": array(ANY_OBJECT), "data": array(ANY_OBJECT)})
# JSON, or server-sent events with ``stream=true``.
GENERATE_ANSWER = answer(200, GENERATED, media={"text/event-stream": {"schema": STRING}})
# Seedream is an outside service: it may be unconfigured (503), fail or time out (502, 504).
GENERATE_FAILS = (*JSON_BODY, 401, 403, 413, 415, 422, 429, 502, 503, 504, 507)


def catalogue_read(operation_id: str, summary: str, fails: tuple[int, ...]) -> Operation:
    """A read of the catalogue's bytes by ``?hash=``: 302 to a node, or the bytes."""
    return operation(
        operation_id,
        summary,
        {
            **answer(200, media=BYTES),
            **answer(206, media=BYTES),
            **answer(302),
            **answer(304),
        },
        fails,
        security=ADMIN,
        parameters=[HASH_QUERY, param("query", "proxy"), *READ_HEADERS],
    )


PATHS: dict[str, dict[str, Operation]] = {
    "/register": {
        "post": operation(
            "registerFile",
            "Record a file with its metadata (the reference API)",
            answer(200, obj({"message": STRING, "hash": FILE_KEY, "file": FILE_RECORD})),
            (*JSON_BODY, 401, 403, 409, 413),
            security=ADMIN,
            body=json_request(
                obj({"hash": FILE_KEY}, {"name": STRING, "size": COUNT, "replicas": array(NODE_ID)})
            ),
        )
    },
    "/get": {
        "get": operation(
            "getFile",
            "A file's record and where its copies are (the reference API)",
            answer(200, DESCRIBED),
            (*CLIENT, 401, 403, 404),
            security=ADMIN,
            parameters=[HASH_QUERY],
        )
    },
    "/list": {
        "get": operation(
            "listFiles",
            "Every file of the global catalogue (the reference API)",
            answer(200, array(FILE_RECORD)),
            (*CLIENT, 401, 403),
            security=ADMIN,
        )
    },
    "/upload": {
        "post": operation(
            "uploadForm",
            "Store a file sent as multipart field 'file', on R nodes",
            answer(200, UPLOADED),
            (*WRITE_FAILS, 401, 403),
            security=ADMIN,
            parameters=[OPTIONAL_HASH],
            body={
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {"type": "object", "properties": {"file": {"format": "binary"}}}
                    }
                },
            },
        ),
        "put": operation(
            "uploadRaw",
            "Store the raw body as a file named by ?name=",
            answer(200, UPLOADED),
            (*WRITE_FAILS, 401, 403),
            security=ADMIN,
            parameters=[param("query", "name"), OPTIONAL_HASH],
            body=bytes_request(),
        ),
    },
    "/upload/{name}": {
        "put": operation(
            "uploadRawNamed",
            "Store the raw body as a file named by the path (or ?name=)",
            answer(200, UPLOADED),
            (*WRITE_FAILS, 401, 403),
            security=ADMIN,
            parameters=[param("path", "name"), param("query", "name"), OPTIONAL_HASH],
            body=bytes_request(),
        )
    },
    "/uploads": {
        "post": operation(
            "beginUpload",
            "Announce a file by its block hashes: what is missing, and where to send it",
            answer(200, UPLOAD_STATE),
            (*JSON_BODY, 401, 403, 409, 429, 503),
            security=ADMIN,
            body=json_request(
                obj(
                    {"hash": DIGEST, "size": COUNT, "blocks": array(DIGEST)},
                    {"name": STRING, "block_size": {"type": "integer", "minimum": 1}},
                )
            ),
        )
    },
    "/uploads/{upload_id}": {
        "get": operation(
            "uploadStatus",
            "What an open upload still lacks",
            answer(200, UPLOAD_STATE),
            (*CLIENT, 401, 403, 404),
            security=ADMIN,
            parameters=[param("path", "upload_id")],
        ),
        "delete": operation(
            "abortUpload",
            "Abandon an open upload",
            answer(200, obj({"aborted": STRING})),
            (*CLIENT, 401, 403, 404),
            security=ADMIN,
            parameters=[param("path", "upload_id")],
        ),
    },
    "/uploads/{upload_id}/commit": {
        "post": operation(
            "commitUpload",
            "Check every block and the file's hash, then make the file appear",
            answer(200, FILE_RECORD),
            (*CLIENT, 401, 403, 404, 409, 502, 503, 504),
            security=ADMIN,
            parameters=[param("path", "upload_id")],
        )
    },
    "/assign": {
        "post": operation(
            "assignNodes",
            "Target nodes for a bulk client's uploads",
            answer(
                200,
                obj(
                    {"nodes": array(obj({"id": STRING, "url": STRING})), "upload_url": STRING},
                    {"chain": array(STRING), "replication": INTEGER},
                ),
            ),
            (*CLIENT, 401, 403, 503),
            security=ADMIN,
            parameters=[param("query", "count", {"type": "integer", "minimum": 1, "maximum": 100})],
            x_overlay=True,
        )
    },
    "/download": {
        "get": catalogue_read(
            "download",
            "A file's bytes: 302 to a live replica, or streamed by the master (?proxy=1)",
            (*CLIENT, 401, 403, 404, 416, 502, 503, 504),
        )
    },
    "/files/{file_hash}/blocks": {
        "get": operation(
            "fileBlocks",
            "A file's blocks and the nodes that hold each one",
            answer(
                200,
                obj(
                    {
                        "hash": FILE_KEY,
                        "name": STRING,
                        "size": INTEGER,
                        "block_size": INTEGER,
                        "blocks": array(BLOCK),
                    }
                ),
            ),
            (*CLIENT, 401, 403, 404),
            security=ADMIN,
            parameters=[param("path", "file_hash", FILE_KEY)],
        )
    },
    "/files/{file_hash}": {
        "delete": operation(
            "deleteFile",
            "Remove a file from the global catalogue (its copies are collected later)",
            answer(200, ANY_OBJECT),
            (*CLIENT, 401, 403, 404, 409),
            security=ADMIN,
            parameters=[param("path", "file_hash", FILE_KEY)],
        )
    },
    "/health": {
        "get": operation(
            "health",
            "Alive: the master's own figures",
            answer(200, obj({"status": STRING, "role": {"const": "master"}})),
            CLIENT,
        )
    },
    "/ready": {
        "get": operation(
            "ready",
            "Whether the master can serve (metadata reachable, enough nodes for a write)",
            {**answer(200, READINESS), **answer(503, READINESS)},
            CLIENT,
        )
    },
    "/metrics": {
        "get": operation(
            "metrics",
            "The master's metrics in Prometheus text form",
            answer(200, media={"text/plain": {"schema": STRING}}),
            CLIENT,
        )
    },
    "/seedream/generate": {
        "post": operation(
            "seedreamGenerate",
            "Generate images with Seedream from 0, 1 or 2 input images (the reference API)",
            GENERATE_ANSWER,
            GENERATE_FAILS,
            security=ADMIN,
            body=GENERATE_FORM,
        )
    },
}
