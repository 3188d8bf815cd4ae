"""The master's scrape-time facts for ``/metrics``: nodes, blobs by replication state,
the nodes' disks and scrubbing (from their heartbeats), and the last repair pass."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client.core import Metric

from app.metadata.records import NodeRecord
from app.metrics.exposition import FactCollector, gauge, labelled_gauge

if TYPE_CHECKING:
    from app.master.service import MasterService

NODE_STATES = ("up", "unresponsive", "down")
BLOB_STATES = ("healthy", "degraded", "under_replicated", "over_replicated", "unavailable", "lost")
REPAIR_FIGURES = ("copied", "trimmed", "failed", "unavailable", "collected")


def master_facts(master: MasterService) -> FactCollector:
    """The master's facts, computed at most every few seconds per worker."""
    return FactCollector(lambda: _families(master))


def _families(master: MasterService) -> list[Metric]:
    now = time.time()
    health = master.cluster_health()
    nodes = master.cluster.list_nodes()
    states = [node.state(now, master.node_timeout) for node in nodes]
    families: list[Metric] = [
        labelled_gauge(
            "mdbx_cluster_nodes",
            "Storage nodes known to the master, by state.",
            "state",
            ((state, states.count(state)) for state in NODE_STATES),
        ),
        labelled_gauge(
            "mdbx_cluster_blobs",
            "Blobs by the state of their copies against the replication factor.",
            "state",
            ((state, health.get(state, 0)) for state in BLOB_STATES),
        ),
        gauge("mdbx_cluster_files", "Files in the catalogue.", health["files"]),
        gauge("mdbx_cluster_replication", "Copies wanted of each blob (R).", master.replication),
    ]
    families += _node_families(nodes)
    families += _repair_families(health.get("repair") or {})
    return families


def _node_families(nodes: list[NodeRecord]) -> list[Metric]:
    """Each node's disk and scrubbing as its last heartbeat told them."""
    per_node: list[tuple[str, str, Callable[[NodeRecord], float]]] = [
        ("mdbx_node_capacity_bytes", "A node's filesystem size.", lambda n: n.stats.capacity_bytes),
        ("mdbx_node_free_bytes", "A node's free bytes.", lambda n: n.stats.free_bytes),
        ("mdbx_node_used_bytes", "Bytes a node's blobs take.", lambda n: n.stats.used_bytes),
        ("mdbx_node_blobs", "Blobs a node holds.", lambda n: n.stats.files),
        (
            "mdbx_scrub_checked_blobs",
            "Blobs a node's last scrub pass re-hashed.",
            lambda n: n.scrub.checked,
        ),
        (
            "mdbx_scrub_corrupt_blobs",
            "Rotten blobs a node's last scrub pass found (quarantined, repaired).",
            lambda n: n.scrub.corrupt,
        ),
        (
            "mdbx_scrub_missing_blobs",
            "Catalogued blobs whose file a node's last scrub pass found gone.",
            lambda n: n.scrub.missing,
        ),
        (
            "mdbx_scrub_running",
            "1 while a node's scrub pass is under way.",
            lambda n: int(n.scrub.running),
        ),
        (
            "mdbx_scrub_last_finished_timestamp_seconds",
            "When a node's last scrub pass ended (Unix time, 0: never).",
            lambda n: n.scrub.finished_at,
        ),
        (
            "mdbx_scrub_last_duration_seconds",
            "How long a node's last scrub pass took.",
            lambda n: n.scrub.seconds,
        ),
    ]
    return [
        labelled_gauge(name, doc, "node", ((node.id, value(node)) for node in nodes))
        for name, doc, value in per_node
    ]


def _repair_families(repair: dict[str, Any]) -> list[Metric]:
    last = repair.get("last_pass") or {}
    return [
        labelled_gauge(
            "mdbx_repair_last_pass_blobs",
            "What the last repair pass did, by figure (unavailable: blobs without a live copy).",
            "figure",
            ((figure, float(last.get(figure, 0))) for figure in REPAIR_FIGURES),
        ),
        gauge(
            "mdbx_repair_last_pass_timestamp_seconds",
            "When the last repair pass started (Unix time, 0: never).",
            float(last.get("started_at", 0)),
        ),
        gauge(
            "mdbx_repair_last_pass_duration_seconds",
            "How long the last repair pass took.",
            float(last.get("seconds", 0)),
        ),
    ]
