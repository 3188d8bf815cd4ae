"""The node's credential hook: every request to a node view passes ``NodeAccess.authorize``
(``app.node.access``), the rule the overlay applies to what it answers."""

from __future__ import annotations

from flask import request

from app.node.service import node_service
from app.security import CLUSTER_HEADER


def require_credentials() -> None:
    """Refuse (401/403, or 404/503 for a private read) a request the node does not allow
    (a ``before_request`` hook of the node blueprint: ``app.node.routes``)."""
    node_service().access.authorize(
        request.endpoint, presented=request.headers.get(CLUSTER_HEADER), args=request.args
    )
