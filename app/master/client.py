"""The master's client of storage nodes."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

from app.errors import ServiceUnavailable

# (connect, read) seconds: a node that is down refuses at once; a 10 MiB blob written
# and fsynced on a busy disk can take a few seconds.
TIMEOUT = (3.05, 60.0)


class NodeUnavailable(ServiceUnavailable):
    code = "node_unavailable"


class NodeClient:
    """Uploads blobs to nodes over one pooled session."""

    def __init__(self) -> None:
        self._http = requests.Session()
        self._http.mount("http://", HTTPAdapter(pool_connections=16, pool_maxsize=100))

    def put_blob(self, node_url: str, name: str, data: bytes, digest: str) -> dict[str, Any]:
        """Store ``data`` on the node, which verifies it against ``digest``."""
        try:
            response = self._http.post(
                f"{node_url}/upload",
                params={"hash": digest},
                files={"file": (name, data)},
                timeout=TIMEOUT,
            )
        except requests.RequestException as exc:
            raise NodeUnavailable(f"node {node_url} unreachable: {exc}") from exc
        if response.status_code != 200:
            raise NodeUnavailable(f"node {node_url} answered {response.status_code}")
        body: dict[str, Any] = response.json()
        return body

    def close(self) -> None:
        self._http.close()
