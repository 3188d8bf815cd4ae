"""The pooled HTTP session the clients of nodes speak through: the cluster secret and
the request id on every call, file bodies sent in large pieces (no Flask)."""

from __future__ import annotations

from typing import Any

import requests
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from app.cluster import request_ids
from app.cluster.agent import USER_AGENT
from app.security import cluster_headers

SEND_BLOCK = 1024 * 1024


class LargeBlockAdapter(HTTPAdapter):
    """Sends the request id on (``app.cluster.request_ids``), and file bodies in 1 MiB
    pieces (urllib3's default is 16 KiB: a 4 MiB blob forwarded down a chain took 256
    sends, each a trip through the gevent hub)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["blocksize"] = SEND_BLOCK
        super().init_poolmanager(*args, **kwargs)

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        request_id = request_ids.current.get()
        if request_id and request_ids.HEADER not in request.headers:
            request.headers[request_ids.HEADER] = request_id
        return super().send(request, *args, **kwargs)


def cluster_session(pool: int, secret: str) -> requests.Session:
    """A pooled session whose every call carries the cluster secret, if there is one."""
    session = requests.Session()
    # Cluster calls go straight to the other role: no proxy or netrc from the
    # environment (and no reading of it at every call, 5% of a node's registrations).
    session.trust_env = False
    session.headers.update({"User-Agent": USER_AGENT, **cluster_headers(secret)})
    session.mount("http://", LargeBlockAdapter(pool_connections=16, pool_maxsize=pool))
    session.mount("https://", LargeBlockAdapter(pool_connections=16, pool_maxsize=pool))
    return session
