"""The change feed and batch writes of the per-user API in OpenAPI (``app.feed.routes``):
a tree listed a page at a time, the changes after a cursor, a long poll, and many small
files in one multipart request, a large file of which only the changed blocks travel."""

from __future__ import annotations

from app.openapi.components import (
    ANY_OBJECT,
    BOOLEAN,
    CLIENT,
    DIGEST,
    ENTRY,
    HASH,
    INTEGER,
    JSON_BODY,
    NULLABLE_HASH,
    NUMBER,
    STRING,
    USER,
    USER_PATH,
    Operation,
    answer,
    array,
    bytes_request,
    json_request,
    obj,
    operation,
    param,
)

# An account upload, begun or asked: each block to send, where (``app.userfiles.direct``).
ACCOUNT_UPLOAD = obj(
    {"upload_id": STRING, "missing": array(ANY_OBJECT)},
    {
        "path": STRING,
        "size": INTEGER,
        "hash": HASH,
        "block_size": INTEGER,
        "blocks": INTEGER,
        "expires_at": NUMBER,
    },
)
# A cursor that is none, or another account's (400), or older than the log kept (410).
CURSOR_FAILS = (*CLIENT, 401, 403, 404, 410)
PAGE = {"type": "integer", "minimum": 1, "maximum": 5000}
TREE_ENTRY = {
    **ENTRY,
    "required": [*ENTRY["required"], "modified"],
    "properties": {
        **ENTRY["properties"],
        "modified": NUMBER,
        "version": {"type": ["integer", "null"]},
    },
}
CHANGE = obj(
    {
        "seq": INTEGER,
        "change": {"enum": ["upsert", "delete", "move"]},
        "path": STRING,
        "is_dir": BOOLEAN,
        "size": INTEGER,
        "hash": NULLABLE_HASH,
        "version": {"type": ["integer", "null"]},
    },
    {"from": STRING, "modified": {"type": ["number", "null"]}},
)

PATHS: dict[str, dict[str, Operation]] = {
    "/api/tree": {
        "get": operation(
            "tree",
            "Every file and folder below path, by path, a page at a time (after)",
            answer(
                200,
                obj(
                    {
                        "entries": array(TREE_ENTRY),
                        "cursor": STRING,
                        "next": {"type": ["string", "null"]},
                    }
                ),
            ),
            (*CLIENT, 401, 403, 404, 409),
            security=USER,
            parameters=[
                param("query", "path", USER_PATH),
                param("query", "after"),
                param("query", "limit", PAGE),
            ],
        )
    },
    "/api/changes/latest": {
        "get": operation(
            "latestChange",
            "The feed's end now, following path",
            answer(200, obj({"cursor": STRING})),
            (*CLIENT, 401, 403, 404, 409),
            security=USER,
            parameters=[param("query", "path", USER_PATH)],
        )
    },
    "/api/changes": {
        "get": operation(
            "changes",
            "The changes after a cursor, in order",
            answer(200, obj({"changes": array(CHANGE), "cursor": STRING, "has_more": BOOLEAN})),
            CURSOR_FAILS,
            security=USER,
            parameters=[param("query", "cursor", required=True), param("query", "limit", PAGE)],
        )
    },
    "/api/changes/wait": {
        "get": operation(
            "waitForChanges",
            "Answer as soon as a change follows the cursor, or false at the timeout",
            answer(200, obj({"changes": BOOLEAN})),
            CURSOR_FAILS,
            security=USER,
            parameters=[
                param("query", "cursor", required=True),
                param("query", "timeout", {"type": "integer", "minimum": 1, "maximum": 120}),
            ],
        )
    },
    "/api/batch": {
        "post": operation(
            "batch",
            "Many small files in one multipart body under dir: a result per file",
            answer(200, obj({"results": array(ANY_OBJECT)})),
            (*JSON_BODY, 401, 403, 404, 409, 411, 415, 502, 503, 504, 507),
            security=USER,
            parameters=[param("query", "dir", USER_PATH)],
            body={
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "additionalProperties": {"format": "binary"},
                        }
                    }
                },
            },
        )
    },
    "/api/blocks": {
        "post": operation(
            "missingBlocks",
            "Which blocks of a new version of path the client must send to /api/delta: "
            "those that are no block of a file kept at that path",
            answer(200, obj({"block_size": INTEGER, "missing": array(INTEGER)})),
            (*JSON_BODY, 401, 403, 404),
            security=USER,
            body=json_request(obj({"path": USER_PATH, "size": INTEGER, "blocks": array(DIGEST)})),
        )
    },
    "/api/delta": {
        "post": operation(
            "putDelta",
            "A new version of path from its changed blocks: a line of JSON, "
            '{"size", "hash", "blocks": [hash, ...], "sent": [index, ...]}, then the bytes '
            "of the blocks sent, by index; the others are read back from the file kept there",
            answer(200, obj({"path": STRING, "size": INTEGER, "hash": HASH, "version": INTEGER})),
            (*JSON_BODY, 401, 403, 404, 409, 411, 502, 503, 504, 507),
            security=USER,
            parameters=[param("query", "path", USER_PATH, required=True)],
            body=bytes_request(),
        )
    },
    "/api/uploads": {
        "post": operation(
            "beginAccountUpload",
            "A large file whose blocks go straight to the nodes: each block not held at "
            "that path, with the node URL to PUT it to (it answers a receipt)",
            answer(200, ACCOUNT_UPLOAD),
            (*JSON_BODY, 401, 403, 404, 409, 429, 503),
            security=USER,
            body=json_request(
                obj({"path": USER_PATH, "size": INTEGER, "hash": DIGEST, "blocks": array(DIGEST)})
            ),
        )
    },
    "/api/uploads/{upload_id}": {
        "get": operation(
            "accountUploadStatus",
            "An open account upload: its blocks to send, and where",
            answer(200, ACCOUNT_UPLOAD),
            (*CLIENT, 401, 403, 404, 503),
            security=USER,
            parameters=[param("path", "upload_id")],
        ),
        "delete": operation(
            "abortAccountUpload",
            "Abandon an open account upload",
            answer(200, obj({"aborted": STRING})),
            (*CLIENT, 401, 403, 404),
            security=USER,
            parameters=[param("path", "upload_id")],
        ),
    },
    "/api/uploads/{upload_id}/commit": {
        "post": operation(
            "commitAccountUpload",
            "Put the file at its path once every block was sent (a node's receipt for "
            "it) or is held, and the whole file's hash is checked",
            answer(200, obj({"path": STRING, "size": INTEGER, "hash": HASH, "version": INTEGER})),
            (*JSON_BODY, 401, 403, 404, 409, 502, 503, 504),
            security=USER,
            parameters=[param("path", "upload_id")],
            body=json_request(obj({"receipts": ANY_OBJECT})),
        )
    },
}
