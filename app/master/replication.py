"""Repair: bring every file back to R copies, and trim copies beyond R.

One repairer runs per cluster: per machine an flock elects one gunicorn worker, and on
PostgreSQL an advisory lock elects one master among several. A pass copies files whose
copies on live (or recently down) nodes are fewer than R, from a live copy to a live node
that lacks one (the target pulls and checks the bytes), and deletes copies beyond R once
their nodes are back. Each pass is bounded, and the loop sleeps between passes, so repair
never starves user traffic.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, text

from app.master.placement import choose_extras, choose_nodes
from app.metadata.cluster import ClusterStore, NodeRecord
from app.metadata.repository import MetadataStore
from app.node.client import CorruptCopy, NodeClient, NodeUnavailable
from app.worker_lock import WorkerLock

log = logging.getLogger(__name__)

# Any constant works: it names "the repairer" among PostgreSQL advisory locks.
ADVISORY_LOCK_KEY = 0x6D646278


@dataclass
class RepairReport:
    copied: int = 0
    trimmed: int = 0
    failed: int = 0
    unavailable: list[str] = field(default_factory=list)


class Repairer:
    """Runs repair passes in the background while it holds the cluster-wide lock."""

    def __init__(
        self,
        store: MetadataStore,
        cluster: ClusterStore,
        nodes: NodeClient,
        *,
        replication: int,
        node_timeout: float,
        repair_grace: float,
        interval: float,
        batch: int,
        lock_path: Path,
    ) -> None:
        self.store = store
        self.cluster = cluster
        self.nodes = nodes
        self.replication = replication
        self.node_timeout = node_timeout
        self.repair_grace = repair_grace
        self.interval = interval
        self.batch = batch
        self._lock = WorkerLock(lock_path)
        self._pg_conn: Connection | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mdbx-repair", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def run_pass(self) -> RepairReport:
        """Copy under-replicated files and trim over-replicated ones, at most ``batch``."""
        now = time.time()
        all_nodes = self.cluster.list_nodes()
        live = [n for n in all_nodes if n.is_up(now, self.node_timeout)]
        counted = {n.id for n in all_nodes if n.is_up(now, self.node_timeout + self.repair_grace)}
        live_ids = {n.id for n in live}
        report = RepairReport()
        work = self.cluster.replication_states(counted, live_ids, self.replication, self.batch)
        for state in work:
            if self._stop.is_set():
                break
            record = self.store.get(state.hash)
            if record is None:
                continue
            holders = [n for n in live if n.id in record.replicas]
            if state.counted < self.replication:
                if not holders:
                    report.unavailable.append(state.hash)
                    continue
                self._copy(state.hash, record.name, holders, live, state.counted, report)
            elif state.live > self.replication:
                self._trim(state.hash, holders, report)
        if report.copied or report.trimmed or report.failed:
            log.info(
                "repair pass: %d copied, %d trimmed, %d failed, %d without a live copy",
                report.copied,
                report.trimmed,
                report.failed,
                len(report.unavailable),
            )
        return report

    def _copy(
        self,
        digest: str,
        name: str,
        holders: list[NodeRecord],
        live: list[NodeRecord],
        counted: int,
        report: RepairReport,
    ) -> None:
        candidates = [n for n in live if n not in holders]
        for target in choose_nodes(candidates, self.replication - counted):
            source = holders[report.copied % len(holders)]
            try:
                self.nodes.copy_blob(target.url, digest, source.url, name)
            except CorruptCopy as exc:
                # As the proxy path does: forget the rotten copy, so that it is neither
                # pulled again every pass nor counted; the next pass uses another holder.
                log.error("%s; forgetting that copy", exc)
                self.cluster.forget_replica(digest, source.id)
                with contextlib.suppress(NodeUnavailable):  # else the node's scrub finds it
                    self.nodes.delete_blob(source.url, digest)
                report.failed += 1
                return
            except NodeUnavailable as exc:
                log.warning("repair copy of %s to %s failed: %s", digest, target.id, exc.message)
                report.failed += 1
                continue
            report.copied += 1

    def _trim(self, digest: str, holders: list[NodeRecord], report: RepairReport) -> None:
        for extra in choose_extras(holders, self.replication):
            try:
                self.nodes.delete_blob(extra.url, digest)
            except NodeUnavailable as exc:
                log.warning("trim of %s on %s failed: %s", digest, extra.id, exc.message)
                report.failed += 1
                continue
            self.cluster.forget_replica(digest, extra.id)
            report.trimmed += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._hold_lock():
                    self.run_pass()
            except Exception:
                log.exception("repair pass failed")
            self._stop.wait(self.interval)

    def _hold_lock(self) -> bool:
        """Take (once) and keep the lock that makes this the cluster's one repairer."""
        if not self._lock.acquire():
            return False
        engine = self.cluster.engine
        if engine.dialect.name != "postgresql":
            return True
        if self._pg_conn is None:
            conn = engine.connect()
            # Session-level: held for as long as this connection lives, released if we die.
            held = conn.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            ).scalar()
            conn.commit()
            if not held:
                conn.close()
                return False
            self._pg_conn = conn
        return True
