"""The node's scrape-time facts for ``/metrics``: blobs and bytes stored, free bytes,
its last scrub pass."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client.core import Metric

from app.metrics.exposition import FactCollector, gauge

if TYPE_CHECKING:
    from app.node.service import NodeService


def node_facts(node: NodeService) -> FactCollector:
    """The node's facts, computed at most every few seconds per worker."""
    return FactCollector(lambda: _families(node))


def _families(node: NodeService) -> list[Metric]:
    stats = node.catalog.stats()
    scrub = node.sync.scrub_log.figures() if node.sync.scrub_log is not None else {}
    return [
        gauge("mdbx_blobs_stored", "Blobs this node holds (catalogued).", stats.blobs),
        gauge("mdbx_stored_bytes", "Bytes of the blobs this node holds.", stats.bytes),
        gauge(
            "mdbx_free_bytes", "Free bytes on this node's data filesystem.", node.blobs.free_bytes()
        ),
        gauge(
            "mdbx_unregistered_blobs",
            "Blobs stored here the master has not acknowledged yet.",
            stats.unregistered,
        ),
        gauge(
            "mdbx_scrub_last_checked_blobs",
            "Blobs the last scrub pass re-hashed.",
            scrub.get("checked", 0),
        ),
        gauge(
            "mdbx_scrub_last_corrupt_blobs",
            "Rotten blobs the last scrub pass found.",
            scrub.get("corrupt", 0),
        ),
        gauge(
            "mdbx_scrub_last_finished_timestamp_seconds",
            "When the last scrub pass ended (Unix time, 0: never).",
            scrub.get("finished_at", 0),
        ),
    ]
