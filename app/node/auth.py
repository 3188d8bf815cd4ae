"""Who may call a node when a cluster secret is set (the secured cluster mode).

``/health`` stays open. ``GET /retrieve`` takes a master-signed read URL of that blob
(``GET /file``, of that file), ``POST``/``PUT /upload`` a signed write URL of the blob
named by ``?hash=``; the cluster's own calls (and ``/replicate``,
``DELETE /blobs/<hash>``, ``/scrub``, which are only for them) carry the
``X-Mdbx-Cluster-Secret`` header. Without a secret every request passes, as in the
reference design.
"""

from __future__ import annotations

from flask import current_app, request

from app.security import CLUSTER_HEADER, READ, TOKEN_PARAM, WRITE, authorize_blob_request

OPEN_ENDPOINTS = frozenset({"node.health"})
# What a signed URL may open; any other endpoint is for the cluster only.
TOKEN_OPS = {"node.retrieve": READ, "node.retrieve_file": READ, "node.upload": WRITE}


def require_credentials() -> None:
    """Refuse (401/403) a request the secured mode does not allow (a ``before_request``
    hook of the node blueprint: ``app.node.routes``)."""
    secret: str = current_app.config["CLUSTER_SECRET"]
    if not secret or request.endpoint in OPEN_ENDPOINTS:
        return
    authorize_blob_request(
        secret,
        presented=request.headers.get(CLUSTER_HEADER),
        token=request.args.get(TOKEN_PARAM),
        op=TOKEN_OPS.get(request.endpoint or ""),
        digest=request.args.get("hash"),
        params=request.args,
    )
