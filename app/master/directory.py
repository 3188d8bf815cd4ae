"""What the master knows of its nodes: which are live (for placement and reads), their
beats and reports, and what they learn in return."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.master.placement import choose_nodes, live_nodes
from app.master.reports import CopyReports
from app.master.validation import parse_hash_list, parse_node, parse_scrub, parse_stats
from app.metadata.cluster import ClusterStore
from app.metadata.records import NodeRecord
from app.metadata.visibility import Visibility

# A node's registrations also tell that it is alive, at most this often (seconds): the
# beat is a write transaction of its own, and registrations come many times a second.
ALIVE_NOTE_INTERVAL = 1.0
# The node list behind placement and reads is re-read at most this often (seconds): an
# /assign per write made it a query per write. Liveness is still judged against the
# current time; only a beat that just arrived at a sibling worker is seen this much later.
# A node's stream opening or breaking is seen at once: the worker that holds the stream
# touches a file (``changes``) whose time every worker of this master compares (a stat).
NODE_LIST_TTL = 0.25


class NodeDirectory:
    """The nodes of the cluster table, as this master worker sees them."""

    def __init__(
        self,
        cluster: ClusterStore,
        reports: CopyReports,
        visibility: Visibility,
        *,
        node_timeout: float,
        replication: int,
        open_key: str = "",
        changes: Path | None = None,
        sync_epoch: Callable[[], str] | None = None,
    ) -> None:
        self.cluster = cluster
        # Told to nodes: a new one asks each for its whole inventory (app.master.recovery).
        self.sync_epoch = sync_epoch
        self.reports = reports
        self.visibility = visibility
        self.node_timeout = node_timeout
        self.replication = replication
        # Sent to nodes in open mode, to check the tokens of reads of private copies
        # (in secured mode they have the cluster secret, which signs them).
        self.open_key = open_key
        self._alive_noted: dict[tuple[str, str], float] = {}
        self._started = time.time()
        self._node_list: tuple[float, list[NodeRecord]] | None = None
        self._changes = changes
        self._changes_seen = self._changes_mark()

    def live_nodes(self) -> list[NodeRecord]:
        """The nodes to place copies on and read from, freshest first."""
        now = time.monotonic()
        mark = self._changes_mark()
        if (
            self._node_list is None
            or now - self._node_list[0] > NODE_LIST_TTL
            or mark != self._changes_seen
        ):
            self._changes_seen = mark
            self._node_list = (now, self.cluster.list_nodes())
        return live_nodes(
            [self._beat_since_start(node) for node in self._node_list[1]],
            time.time(),
            self.node_timeout,
        )

    def _beat_since_start(self, node: NodeRecord) -> NodeRecord:
        """A node last heard from before this worker started counts as heard at the start.

        Nodes cannot beat a master that is down: one restarted after more than
        NODE_TIMEOUT would find every node's last beat too old, and answer 503
        ``no_live_replica`` to every read until they beat again. A node known down (its
        stream broke) stays down; one that died meanwhile is up for at most NODE_TIMEOUT,
        which the redirect's connection check and the reader's fallback go around."""
        if node.last_seen >= self._started:
            return node
        return dataclasses.replace(node, last_seen=self._started)

    def note_change(self) -> None:
        """Make every worker of this master re-read the node list at its next use (a
        node's state changed in the database: its stream opened, or it went down)."""
        self._node_list = None
        if self._changes is not None:
            self._changes.touch()
            stamp = time.time_ns()
            os.utime(self._changes, ns=(stamp, stamp))

    def _changes_mark(self) -> int:
        if self._changes is None:
            return 0
        try:
            return os.stat(self._changes).st_mtime_ns
        except FileNotFoundError:
            return 0

    def note_alive(self, node_id: str, url: str) -> None:
        """Count a registration as a beat of its node (at most every ALIVE_NOTE_INTERVAL)."""
        now = time.monotonic()
        if now - self._alive_noted.get((node_id, url), -ALIVE_NOTE_INTERVAL) >= ALIVE_NOTE_INTERVAL:
            self.cluster.heartbeat(node_id, url)
            self._alive_noted[(node_id, url)] = now

    def take_heartbeat(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Record a node's beat, disk figures and scrubbing; answer the deletions it still owes."""
        node_id, url = parse_node(payload)
        was_live = any(node.id == node_id and node.url == url for node in self.live_nodes())
        self.cluster.settle_deletes(node_id, parse_hash_list(payload, "deleted"))
        self.cluster.heartbeat(node_id, url, parse_stats(payload), parse_scrub(payload))
        if was_live:
            self._node_list = None  # this worker sees the beat at once
        else:
            # A node new (or back, or moved) is placed on by every worker at once: another
            # worker's list, up to NODE_LIST_TTL old, would place R copies on fewer nodes.
            self.note_change()
        return {
            "node": node_id,
            "delete": self.cluster.deletes_owed_by(node_id),
            **self._cluster_view(),
        }

    def take_inventory(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Confirm a node's batch of copies (new ones once checked on the node), and tell
        it which to serve only through signed URLs (it may have lost that, or never had
        it: app.metadata.visibility) and what it should know of the cluster."""
        answer = self.reports.take_inventory(payload)
        reported = [item["hash"] for item in payload.get("files", [])]  # checked by now
        answer["private"] = self.visibility.private_copies_on(answer["node"], reported)
        return {**answer, **self._cluster_view()}

    def _cluster_view(self) -> dict[str, Any]:
        """What nodes learn from the answers to their reports (``app.node.membership``):
        the nodes they may fetch from and forward to, the sync epoch, and the open mode's
        signing key."""
        view: dict[str, Any] = {"nodes": [node.url for node in self.cluster.list_nodes()]}
        if self.sync_epoch is not None:
            view["sync_epoch"] = self.sync_epoch()
        if self.open_key:
            view["signing_key"] = self.open_key
        return view

    def take_bad_copy(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A node lacks copies (corrupt, missing, deleted): forget them so repair replaces them."""
        return self.reports.take_losses(payload)

    def list_nodes(self) -> list[dict[str, Any]]:
        now = time.time()
        return [node.to_dict(now, self.node_timeout) for node in self.cluster.list_nodes()]

    def peers_needed(self, holder_ids: Sequence[str]) -> list[NodeRecord]:
        """Live nodes that should receive a copy for a blob held by ``holder_ids`` to
        have R live copies."""
        live = self.live_nodes()
        holders = set(holder_ids)
        have = sum(1 for node in live if node.id in holders)
        return choose_nodes([n for n in live if n.id not in holders], self.replication - have)
