"""The cluster's own endpoints on the master in OpenAPI: its health and repair for
operators (``/cluster/``, ``/nodes``), and what nodes call (``/nodes/...``: beats,
copies, inventories, bad copies, the held stream) (``app.master.routes``)."""

from __future__ import annotations

from app.openapi.components import (
    ADMIN,
    ANY_OBJECT,
    BOOLEAN,
    CLIENT,
    CLUSTER,
    COUNT,
    DIGEST,
    FILE_KEY,
    INTEGER,
    JSON_BODY,
    NODE_ID,
    NODE_URL,
    STRING,
    Operation,
    answer,
    array,
    json_request,
    obj,
    operation,
    param,
)

NODE = obj({"id": STRING, "url": STRING, "state": {"enum": ["up", "unresponsive", "down"]}})
REPAIR_PASS = obj(
    {"copied": INTEGER, "trimmed": INTEGER, "failed": INTEGER, "collected": INTEGER},
    {"unavailable": array(FILE_KEY), "garbage_left": BOOLEAN},  # a registered key too
)
CLUSTER_HEALTH = obj(
    {
        key: INTEGER
        for key in [
            "replication",
            "nodes_up",
            "nodes_down",
            "files",
            "blobs",
            "healthy",
            "degraded",
            "under_replicated",
            "over_replicated",
            "unavailable",
            "lost",
        ]
    },
    {"status": STRING, "repair": ANY_OBJECT},
)
NODE_REPORT = obj({"node": NODE_ID}, {"url": NODE_URL, "hashes": array(DIGEST), "hash": DIGEST})

PATHS: dict[str, dict[str, Operation]] = {
    "/cluster/health": {
        "get": operation(
            "clusterHealth",
            "Blobs by state, nodes up and down, the last repair passes",
            answer(200, CLUSTER_HEALTH),
            (*CLIENT, 401, 403),
            security=ADMIN,
        )
    },
    "/cluster/repair": {
        "post": operation(
            "repair",
            "Run one repair pass now",
            answer(200, REPAIR_PASS),
            (*CLIENT, 401, 403),
            security=ADMIN,
        )
    },
    "/nodes": {
        "get": operation(
            "listNodes",
            "Every node with its state, space and last scrub",
            answer(200, array(NODE)),
            (*CLIENT, 401, 403),
            security=ADMIN,
        )
    },
    "/nodes/{node_id}/stream": {
        "get": operation(
            "nodeStream",
            "Held open for a node, a byte a second: its break tells the master the node died",
            answer(200, media={"text/plain": {"schema": STRING}}),
            (*CLIENT, 401, 403, 409),
            security=CLUSTER,
            parameters=[
                param("path", "node_id", NODE_ID),
                param("query", "url", NODE_URL, required=True),
            ],
        )
    },
    "/nodes/heartbeat": {
        "post": operation(
            "heartbeat",
            "A node's beat: its URL, space and scrub; answered with the cluster's settings",
            answer(200, ANY_OBJECT),
            (*JSON_BODY, 401, 403, 409),
            security=CLUSTER,
            body=json_request(
                obj(
                    {"node": NODE_ID, "url": NODE_URL},
                    {"capacity_bytes": COUNT, "free_bytes": COUNT, "used_bytes": COUNT},
                )
            ),
        )
    },
    "/nodes/register": {
        "post": operation(
            "registerCopies",
            "A batch of new copies on a node (and on the peers named in a copy's 'also'), "
            "recorded in one transaction",
            answer(200, ANY_OBJECT),
            (*JSON_BODY, 401, 403, 404, 409),
            security=CLUSTER,
            body=json_request(NODE_REPORT),
            x_overlay=True,
        )
    },
    "/nodes/inventory": {
        "post": operation(
            "inventory",
            "Every copy a node holds: confirmed, or checked by a sample before recorded",
            answer(200, ANY_OBJECT),
            (*JSON_BODY, 401, 403, 404, 409),
            security=CLUSTER,
            body=json_request(NODE_REPORT),
        )
    },
    "/nodes/bad-copy": {
        "post": operation(
            "badCopy",
            "Copies a node lacks or found corrupt, forgotten at once",
            answer(200, ANY_OBJECT),
            (*JSON_BODY, 401, 403, 404),
            security=CLUSTER,
            body=json_request(NODE_REPORT),
        )
    },
}

# The master's snapshots of the user trees, and its rebuild from the nodes.
SNAPSHOT_FAILS = (*CLIENT, 401, 403, 404, 409, 502, 503, 504)
PATHS |= {
    "/admin/snapshots": {
        "post": operation(
            "takeSnapshot",
            "Snapshot the user trees into the cluster now",
            answer(200, ANY_OBJECT),
            (*SNAPSHOT_FAILS, 507),
            security=ADMIN,
        ),
        "get": operation(
            "listSnapshots",
            "The snapshots kept",
            answer(200, obj({"snapshots": array(ANY_OBJECT)})),
            SNAPSHOT_FAILS,
            security=ADMIN,
        ),
    },
    "/admin/snapshots/{digest}": {
        "get": operation(
            "downloadSnapshot",
            "A snapshot's bytes (a gzipped SQLite database)",
            answer(200, media={"application/gzip": {"schema": {"format": "binary"}}}),
            SNAPSHOT_FAILS,
            security=ADMIN,
            parameters=[param("path", "digest", DIGEST)],
        )
    },
    "/admin/restore": {
        "post": operation(
            "restoreSnapshot",
            "Replace every user's tree with a snapshot: the latest (?latest=1) or the body",
            answer(200, ANY_OBJECT),
            (*SNAPSHOT_FAILS, 408, 413, 415, 422),
            security=ADMIN,
            parameters=[param("query", "latest")],
            body={
                "required": False,
                "content": {"application/gzip": {"schema": {"format": "binary"}}},
            },
        )
    },
    "/admin/recover": {
        "get": operation(
            "recoveryStatus",
            "Whether the master is rebuilding its catalogue from its nodes, and its last report",
            answer(
                200,
                obj(
                    {"recovering": BOOLEAN},
                    {"since": {"type": ["number", "null"]}, "last": {"type": ["object", "null"]}},
                ),
            ),
            (*CLIENT, 401, 403),
            security=ADMIN,
        ),
        "post": operation(
            "recover",
            "Rebuild the catalogue from the nodes now; the report",
            answer(200, ANY_OBJECT),
            SNAPSHOT_FAILS,
            security=ADMIN,
        ),
    },
}
