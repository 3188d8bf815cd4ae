"""The node's client of the master: registration and inventory reports."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from app.errors import ServiceUnavailable
from app.metadata.catalog import BlobEntry

log = logging.getLogger(__name__)

# (connect, read) seconds: a master that is down refuses at once; one that hangs must not
# hold an upload for longer than this.
TIMEOUT = (3.05, 10.0)


class MasterUnavailable(ServiceUnavailable):
    code = "master_unavailable"


class MasterClient:
    """Talks to the master over one pooled session; failures raise MasterUnavailable."""

    def __init__(self, master_url: str, node_id: str, public_url: str) -> None:
        self.master_url = master_url
        self.node_id = node_id
        self.public_url = public_url
        self._http = requests.Session()
        self._http.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=32))

    def register(self, entry: BlobEntry, name: str) -> None:
        """Register one copy under ``name`` with the reference's /register call."""
        self._post(
            "/register",
            {"hash": entry.hash, "name": name, "size": entry.size, "replicas": [self.node_id]},
        )

    def report_inventory(
        self,
        entries: Sequence[BlobEntry],
        sync_started: float | None = None,
        complete: bool = False,
    ) -> dict[str, Any]:
        """Confirm a batch of held copies; ``complete`` ends a full sync begun at ``sync_started``.

        The master forgets copies of this node that a complete sync did not confirm.
        """
        return self._post(
            "/nodes/inventory",
            {
                "node": self.node_id,
                "url": self.public_url,
                "files": [{"hash": e.hash, "name": e.name, "size": e.size} for e in entries],
                "sync_started": sync_started,
                "complete": complete,
            },
        )

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self._http.post(self.master_url + path, json=payload, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise MasterUnavailable(f"master at {self.master_url} unreachable: {exc}") from exc
        if response.status_code >= 500:
            raise MasterUnavailable(f"master answered {response.status_code} to {path}")
        if response.status_code >= 400:
            # A refusal is not an outage: log it, it will not get better by retrying.
            log.error("master refused %s: %s %s", path, response.status_code, response.text[:500])
            raise MasterUnavailable(f"master refused {path} with {response.status_code}")
        body: dict[str, Any] = response.json()
        return body
