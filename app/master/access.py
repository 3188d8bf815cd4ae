"""Who may call the master: the one rule of the Flask hook (``app.master.auth``) and the
overlay (``app.master.overlay``); pure Python.

Secured mode (a cluster secret is set): ``/health``, ``/ready`` and ``/metrics`` stay
open. The node-facing
``/nodes/heartbeat``, ``/nodes/inventory``, ``/nodes/bad-copy``, ``/nodes/register`` and
``/nodes/<id>/stream`` take only the ``X-Mdbx-Cluster-Secret`` header. Every other
endpoint it guards takes that header, or ``Authorization: Bearer <token>`` for a token
the admin token check accepts. Without a secret every request passes, as in the reference design.
"""

from __future__ import annotations

from collections.abc import Callable

from app.errors import Forbidden
from app.security import CLUSTER_HEADER, missing_credentials, require_cluster_secret

# What a probe or a scraper asks, with no credentials (as of a load balancer, Prometheus).
OPEN_ENDPOINTS = frozenset({"master.health", "master.ready", "master.metrics"})
CLUSTER_ENDPOINTS = frozenset(
    {
        "master.heartbeat",
        "master.inventory",
        "master.bad_copy",
        "master.register_copies",
        "master.node_stream",
    }
)


def authorize_call(
    secret: str,
    endpoint: str | None,
    *,
    presented: str | None,
    bearer: str | None,
    is_admin_token: Callable[[str], bool] | None,
) -> None:
    """Let a call to ``endpoint`` through, or raise 401/403.

    ``presented``: the cluster header sent, if any; ``bearer``: the token of an
    ``Authorization: Bearer`` header; ``is_admin_token``: whether a token is an
    administrator's (None: no accounts, so none is).
    """
    if not secret or endpoint in OPEN_ENDPOINTS:
        return
    if presented is not None or endpoint in CLUSTER_ENDPOINTS:
        if presented is None and bearer is not None:
            raise Forbidden(f"this endpoint is for the cluster: send the {CLUSTER_HEADER} header")
        require_cluster_secret(secret, presented)
        return
    if bearer is None:
        raise missing_credentials(
            f"send the {CLUSTER_HEADER} header or Authorization: Bearer <admin token>"
        )
    if is_admin_token is None or not is_admin_token(bearer):
        raise Forbidden("the bearer token is not an admin token", code="invalid_token")
