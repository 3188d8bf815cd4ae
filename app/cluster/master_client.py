"""A node's client of its masters: registrations, heartbeats, inventories, block maps."""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import urllib3

from app.cluster.agent import USER_AGENT
from app.cluster.links import HttpLink
from app.errors import ServiceUnavailable
from app.metadata.node_catalogue import BlobEntry
from app.security import cluster_headers

log = logging.getLogger(__name__)

# (connect, read) seconds: a master that is down refuses at once; one that hangs must not
# hold an upload for longer than this.
MASTER_TIMEOUT = (3.05, 10.0)


@dataclass(frozen=True)
class NewCopy:
    """A copy a node just stored, as it registers it with the master."""

    hash: str
    name: str
    size: int
    kind: str
    want_peers: bool  # ask which live peers should get copies for the blob to reach R
    private: bool = False  # stored as a private copy (see app.metadata.visibility)
    also: tuple[str, ...] = ()  # ids of peers that hold it durably too (registered with it)


@dataclass(frozen=True)
class Registered:
    """The master's answer to a batch of new copies."""

    results: list[dict[str, Any]]  # per copy, in order: ``replicate_to`` if peers were wanted
    peers: list[dict[str, Any]]  # where the node's next new copies should go ({"id", "url"})


class MasterUnavailable(ServiceUnavailable):
    code = "master_unavailable"


class NotOnMaster(MasterUnavailable):
    """The master answered 404: it does not know what was asked for."""


def _master_pool(size: int, headers: dict[str, str]) -> urllib3.PoolManager:
    """Connections to the masters: urllib3 (requests' own transport) without the requests
    layer, whose per-call work was a third of a node's time on its registrations."""
    return urllib3.PoolManager(
        num_pools=16,
        maxsize=size,
        headers=headers,
        timeout=urllib3.Timeout(connect=MASTER_TIMEOUT[0], read=MASTER_TIMEOUT[1]),
        retries=False,
    )


class MasterClient:
    """A node's link to its masters (one, or several sharing one database).

    Registrations go to the first master that answers; heartbeats go to every master,
    so that each one knows this node is alive.
    """

    def __init__(
        self, master_urls: Sequence[str], node_id: str, public_url: str, secret: str = ""
    ) -> None:
        self.master_urls = [url.rstrip("/") for url in master_urls]
        self.node_id = node_id
        self.public_url = public_url
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **cluster_headers(secret),
        }
        self._http = _master_pool(32, headers)
        # Registrations on connections of their own (app.cluster.links): a node registers
        # one batch at a time (its uploads' group commit), so one link per master.
        self._registrations = {
            url: HttpLink(url, headers, MASTER_TIMEOUT) for url in self.master_urls
        }

    def close(self) -> None:
        """Close the connections kept alive to the masters."""
        for link in self._registrations.values():
            link.close()
        self._http.clear()

    @property
    def master_url(self) -> str:
        return ",".join(self.master_urls)

    def register_copies(self, copies: Sequence[NewCopy]) -> list[dict[str, Any]]:
        """Register a batch of new copies in one call.

        Returns one answer per copy, in order, with ``replicate_to`` for those that
        wanted peers.
        """
        return self.register(copies).results

    def register(self, copies: Sequence[NewCopy]) -> Registered:
        """Register a batch of new copies in one call: the answer per copy, and (when
        any wanted peers) the peers the master places this node's next copies on."""
        payload = {
            "node": self.node_id,
            "url": self.public_url,
            "copies": [
                {
                    "hash": copy.hash,
                    "name": copy.name,
                    "size": copy.size,
                    "kind": copy.kind,
                    "want_peers": copy.want_peers,
                    # Only when true: a node of an earlier release says nothing.
                    **({"private": True} if copy.private else {}),
                    **({"also": list(copy.also)} if copy.also else {}),
                }
                for copy in copies
            ],
        }
        reply = self._call_any("/nodes/register", payload, registration=True)
        peers = reply.get("peers", [])
        return Registered(reply["results"], peers if isinstance(peers, list) else [])

    def report_inventory(
        self,
        entries: Sequence[BlobEntry],
        sync_started: float | None = None,
        complete: bool = False,
    ) -> dict[str, Any]:
        """Confirm a batch of held copies; ``complete`` ends a full sync begun at ``sync_started``.

        The master forgets copies of this node that a complete sync did not confirm,
        answers in ``drop`` the hashes deleted meanwhile, and in ``private`` those it
        holds to be private copies here.
        """
        reply: dict[str, Any] = self._call_any(
            "/nodes/inventory",
            {
                "node": self.node_id,
                "url": self.public_url,
                "files": [
                    {
                        "hash": e.hash,
                        "name": e.name,
                        "size": e.size,
                        "kind": e.kind,
                        **({"private": True} if e.private else {}),
                    }
                    for e in entries
                ],
                "sync_started": sync_started,
                "complete": complete,
            },
        )
        return reply

    def heartbeat(
        self,
        stats: dict[str, int],
        deleted: Sequence[str],
        scrub: dict[str, float | int] | None = None,
    ) -> dict[str, Any]:
        """Beat to every master; return their answers merged: ``delete`` lists the hashes
        any of them wants deleted here, the other keys (the node list, the signing key of
        open mode) are the last answer's (the masters share one catalogue)."""
        payload: dict[str, Any] = {
            "node": self.node_id,
            "url": self.public_url,
            **stats,
            "deleted": list(deleted),
        }
        if scrub is not None:
            payload["scrub"] = scrub
        to_delete: set[str] = set()
        merged: dict[str, Any] = {}
        for url in self.master_urls:
            try:
                reply = self._call(url, "/nodes/heartbeat", payload)
            except MasterUnavailable as exc:
                log.warning("heartbeat not delivered: %s", exc.message)
                continue
            merged.update(reply)
            to_delete.update(h for h in reply.get("delete", []) if isinstance(h, str))
        if not merged:
            raise MasterUnavailable("no master answered the heartbeat")
        return {**merged, "delete": sorted(to_delete)}

    def node_urls(self) -> list[str]:
        """The URL of every node the masters list (``GET /nodes``)."""
        listed = self._call_any("/nodes", None)
        if not isinstance(listed, list):
            raise MasterUnavailable("the master's node list is not a list")
        return [n["url"] for n in listed if isinstance(n, dict) and isinstance(n.get("url"), str)]

    def report_corrupt(self, digest: str) -> None:
        """Tell the masters this copy failed its check, or vanished, and is gone from here."""
        self.report_lost([digest])

    def report_lost(self, digests: Sequence[str]) -> list[str]:
        """Tell the masters these copies are not on this node (corrupt, deleted, lost, or
        asked for and not found); return those they had placed here and now forget."""
        reply = self._call_any("/nodes/bad-copy", {"node": self.node_id, "hashes": list(digests)})
        forgotten = reply.get("forgotten", [])
        return [h for h in forgotten if isinstance(h, str)] if isinstance(forgotten, list) else []

    def file_blocks(self, file_hash: str) -> dict[str, Any] | None:
        """The master's block map of a file (``GET /files/<hash>/blocks``); None when the
        masters do not know the file."""
        try:
            blocks: dict[str, Any] = self._call_any(f"/files/{file_hash}/blocks", None)
        except NotOnMaster:
            return None
        return blocks

    def _call_any(
        self, path: str, payload: dict[str, Any] | None, *, registration: bool = False
    ) -> Any:
        """``_call`` on the first master that answers."""
        last: MasterUnavailable | None = None
        for url in self.master_urls:
            try:
                return self._call(url, path, payload, registration=registration)
            except NotOnMaster:
                raise  # the masters share one catalogue: the next would say the same
            except MasterUnavailable as exc:
                last = exc
        raise last or MasterUnavailable("no master configured")

    def _call(
        self,
        base: str,
        path: str,
        payload: dict[str, Any] | None,
        *,
        registration: bool = False,
    ) -> Any:
        """POST ``payload`` as JSON (None: GET) and return the master's JSON answer."""
        data = json.dumps(payload).encode() if payload is not None else None
        try:
            if registration and data is not None:
                status, answer = self._registrations[base].call("POST", path, data)
            else:
                method = "GET" if data is None else "POST"
                response = self._http.request(method, base + path, body=data)
                status, answer = response.status, response.data
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            raise MasterUnavailable(f"master at {base} unreachable: {exc}") from exc
        if status == 404:
            raise NotOnMaster(f"master at {base} knows no {path}")
        if status >= 500:
            raise MasterUnavailable(f"master at {base} answered {status} to {path}")
        if status >= 400:
            # A refusal is not an outage: log it, it will not get better by retrying.
            text = answer[:500].decode(errors="replace")
            log.error("master refused %s: %s %s", path, status, text)
            raise MasterUnavailable(f"master at {base} refused {path} with {status}")
        try:
            body = json.loads(answer)
        except ValueError as exc:
            raise MasterUnavailable(f"master at {base} sent no JSON to {path}") from exc
        return body
