"""Who may call the master when a cluster secret is set (the secured cluster mode).

``/health`` stays open. The node-facing ``/nodes/heartbeat``, ``/nodes/inventory``,
``/nodes/bad-copy`` and ``/nodes/register`` take only the ``X-Mdbx-Cluster-Secret``
header. Every other endpoint of the master and Seedream blueprints takes that header,
or ``Authorization: Bearer <token>`` for a token the admin token check
(``app.extensions[ADMIN_TOKEN_CHECK]``, registered by the accounts code) accepts.
Paths under ``/api/`` and ``/s/`` check their own credentials. Without a secret every
request passes, as in the reference design.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from flask import current_app, request

from app.errors import Forbidden
from app.security import (
    ADMIN_TOKEN_CHECK,
    CLUSTER_HEADER,
    bearer_token,
    missing_credentials,
    require_cluster_secret,
)

GUARDED_BLUEPRINTS = frozenset({"master", "seedream"})
OPEN_ENDPOINTS = frozenset({"master.health"})
CLUSTER_ENDPOINTS = frozenset(
    {"master.heartbeat", "master.inventory", "master.bad_copy", "master.register_copies"}
)
SELF_CHECKED_PATHS = ("/api/", "/s/")


def require_credentials() -> None:
    """Refuse (401/403) a request the secured mode does not allow (a hook on every request
    of the app, registered by the master blueprint: ``app.master.routes``)."""
    secret: str = current_app.config["CLUSTER_SECRET"]
    if (
        not secret
        or GUARDED_BLUEPRINTS.isdisjoint(request.blueprints)
        or request.endpoint in OPEN_ENDPOINTS
        or request.path.startswith(SELF_CHECKED_PATHS)
    ):
        return
    presented = request.headers.get(CLUSTER_HEADER)
    bearer = bearer_token(request.headers.get("Authorization"))
    if presented is not None or request.endpoint in CLUSTER_ENDPOINTS:
        if presented is None and bearer is not None:
            raise Forbidden(f"this endpoint is for the cluster: send the {CLUSTER_HEADER} header")
        require_cluster_secret(secret, presented)
        return
    if bearer is None:
        raise missing_credentials(
            f"send the {CLUSTER_HEADER} header or Authorization: Bearer <admin token>"
        )
    check: Callable[[str], bool] | None = current_app.extensions.get(ADMIN_TOKEN_CHECK)
    if check is None or not check(bearer):
        raise Forbidden("the bearer token is not an admin token", code="invalid_token")


def caller_key() -> str:
    """Who is calling, for what one client may hold open: the admin token it presented
    (which ``require_credentials`` checked), else its address. In open mode no token is
    checked, so none counts; behind a proxy, clients without one share its address."""
    bearer = bearer_token(request.headers.get("Authorization"))
    if (
        bearer is not None
        and current_app.config["CLUSTER_SECRET"]
        and request.headers.get(CLUSTER_HEADER) is None
    ):
        return f"token:{hashlib.sha256(bearer.encode()).hexdigest()[:32]}"
    return f"addr:{request.remote_addr or ''}"
