"""Repair: bring every blob back to R copies, trim copies beyond R, collect garbage.

One repairer runs per cluster: per machine an flock elects one gunicorn worker, and on
PostgreSQL an advisory lock elects one master among several. A pass copies files whose
copies on live (or recently down) nodes are fewer than R, from a live copy to a live node
that lacks one (the target pulls and checks the bytes), and deletes copies beyond R once
their nodes are back. It also closes expired uploads and deletes the blobs that no file
and no upload has referenced for GC_GRACE seconds (looked for every tenth of that, at most
a minute apart), after purging the users' trash entries
and versions past their retention and expired share links (private content that no user
refers to any more goes after the same grace). Each pass is bounded, and the loop
sleeps between passes, so repair never starves user traffic. What the last pass did (and
the last one that copied, trimmed or failed) is kept in the settings table, for every
master worker to show (``RepairLog``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sqlalchemy import Connection, text

from app.cluster.node_client import CorruptCopy, NodeClient, NodeUnavailable
from app.master.placement import choose_extras, choose_nodes
from app.master.reader import discard_copy
from app.metadata.changes import FeedStore
from app.metadata.cluster import ClusterStore
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.namespace import NamespaceStore
from app.metadata.records import NodeRecord, PurgedBlob, ReplicationState
from app.metadata.settings import SettingStore
from app.metadata.uploads import UploadStore
from app.metrics.families import GC_COLLECTED, REPAIR_COPIES, REPAIR_PASSES
from app.primitives.worker_lock import WorkerLock

log = logging.getLogger(__name__)

# Any constant works: it names "the repairer" among PostgreSQL advisory locks.
ADVISORY_LOCK_KEY = 0x6D646278
# Garbage waits GC_GRACE before it goes, so the loop looks for it every tenth of that and
# at most once a minute, not at every pass: its two scans read every blob and file, and
# on a catalogue of 50,000 blobs took as long as counting the copies.
MAX_COLLECT_EVERY = 60.0


@dataclass
class RepairReport:
    copied: int = 0
    trimmed: int = 0
    failed: int = 0
    unavailable: list[str] = field(default_factory=list)
    expired_uploads: int = 0
    # Trash entries, versions, share links and feed changes past their time.
    expired_user_items: int = 0
    collected: int = 0
    garbage_left: bool = False  # a collection stopped at the batch size: more may wait


class RepairLog:
    """The figures of the last repair pass, and of the last that changed copies."""

    LAST_PASS = "repair.last_pass"
    LAST_WORK = "repair.last_work"

    def __init__(self, settings: SettingStore) -> None:
        self.settings = settings

    def record(self, report: RepairReport, started: float, trigger: str) -> None:
        figures = {
            **asdict(report),
            "unavailable": len(report.unavailable),
            "started_at": started,
            "seconds": round(time.time() - started, 3),
            "trigger": trigger,
        }
        text = json.dumps(figures)
        self.settings.put(self.LAST_PASS, text)
        if report.copied or report.trimmed or report.failed:
            self.settings.put(self.LAST_WORK, text)

    def latest(self) -> dict[str, object]:
        """``last_pass`` and ``last_work`` (each the figures, or None): copied, trimmed,
        failed, unavailable (blobs without a live copy), collected, expired_uploads,
        expired_user_items, started_at, seconds, trigger (``background`` or ``manual``)."""
        found: dict[str, object] = {}
        for key, name in (("last_pass", self.LAST_PASS), ("last_work", self.LAST_WORK)):
            text = self.settings.get(name)
            found[key] = json.loads(text) if text else None
        return found


def count_pass(report: RepairReport, trigger: str) -> None:
    """Count a pass's work in the metrics (counters: the worker that ran it adds to the sum)."""
    REPAIR_PASSES.labels(trigger).inc()
    for action, count in (
        ("copied", report.copied),
        ("trimmed", report.trimmed),
        ("failed", report.failed),
    ):
        if count:
            REPAIR_COPIES.labels(action).inc(count)
    if report.collected:
        GC_COLLECTED.inc(report.collected)


def drop_copies(
    nodes: NodeClient, cluster: ClusterStore, purged: list[PurgedBlob], live: list[NodeRecord]
) -> tuple[int, int]:
    """Delete purged blobs' copies on live nodes; owe the rest (deleted at their next beat).

    Returns (copies deleted, copies owed).
    """
    urls = {node.id: node.url for node in live}
    deleted = owed_total = 0
    for blob in purged:
        owed = []
        for node_id in blob.replicas:
            try:
                if node_id not in urls:
                    raise NodeUnavailable(f"node {node_id} is down")
                nodes.delete_blob(urls[node_id], blob.hash)
                deleted += 1
            except NodeUnavailable as exc:
                log.info("delete of %s on %s postponed: %s", blob.hash, node_id, exc.message)
                owed.append(node_id)
        cluster.owe_deletes(blob.hash, owed)
        owed_total += len(owed)
    return deleted, owed_total


class Repairer:
    """Runs repair passes in the background while it holds the cluster-wide lock."""

    def __init__(
        self,
        store: FileCatalogue,
        uploads: UploadStore,
        namespace: NamespaceStore,
        cluster: ClusterStore,
        nodes: NodeClient,
        *,
        replication: int,
        node_timeout: float,
        repair_grace: float,
        gc_grace: float,
        trash_retention: float,
        version_retention: float,
        interval: float,
        batch: int,
        lock_path: Path,
        log_to: RepairLog | None = None,
        feed: FeedStore | None = None,
        feed_retention: float = 0.0,
        feed_max_changes: int = 0,
        collect_paused: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        # True while garbage must wait (a master rebuilding its catalogue from its nodes).
        self.collect_paused = collect_paused
        self.log_to = log_to
        self.uploads = uploads
        self.namespace = namespace
        self.gc_grace = gc_grace
        self.trash_retention = trash_retention
        self.version_retention = version_retention
        # The change feed, trimmed to its retention (app.metadata.changes).
        self.feed = feed
        self.feed_retention = feed_retention
        self.feed_max_changes = feed_max_changes
        self.cluster = cluster
        self.nodes = nodes
        self.replication = replication
        self.node_timeout = node_timeout
        self.repair_grace = repair_grace
        self.interval = interval
        self.batch = batch
        self.collect_every = min(MAX_COLLECT_EVERY, gc_grace / 10)
        self._collected_at: float | None = None
        self._garbage_left = False
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

    def run_pass(self, collect: bool = True, trigger: str = "manual") -> RepairReport:
        """Copy under-replicated blobs, trim over-replicated ones (at most ``batch``),
        close expired uploads and, with ``collect``, collect unreferenced blobs."""
        now = time.time()
        report = self._pass(now, collect)
        count_pass(report, trigger)
        if self.log_to is not None:
            self.log_to.record(report, now, trigger)
        return report

    def _pass(self, now: float, collect: bool) -> RepairReport:
        all_nodes = self.cluster.list_nodes()
        live = [n for n in all_nodes if n.is_serving(now, self.node_timeout)]
        counted = {n.id for n in all_nodes if n.is_up(now, self.node_timeout + self.repair_grace)}
        live_ids = {n.id for n in live}
        report = RepairReport()
        work = self.cluster.replication_states(counted, live_ids, self.replication, self.batch)
        copies = self.store.blob_copies([state.hash for state in work])
        public = self.store.blob_copies([state.hash for state in work], public_only=True)
        for state in work:
            if self._stop.is_set():
                break
            holders = [n for n in live if n.id in copies.get(state.hash, ())]
            # Public copies are copied from first (a copy of one is public too) and
            # trimmed last: public reads use only them.
            shown = public.get(state.hash, ())
            if state.counted < self.replication:
                if not holders:
                    report.unavailable.append(state.hash)
                    continue
                self._copy(state, holders, live, report, shown)
            elif state.live > self.replication:
                self._trim(state.hash, holders, report, shown)
        report.expired_uploads = self.uploads.expire(now)
        report.expired_user_items = self.namespace.expire(
            now, self.trash_retention, self.version_retention
        )
        if self.feed is not None:
            report.expired_user_items += self.feed.trim(
                now, self.feed_retention, self.feed_max_changes
            )
        if collect and self.collect_paused is not None and self.collect_paused():
            collect = False
        if collect:
            files_gone = self.store.collect_files(now - self.gc_grace, self.batch)
            blobs_gone = self.store.collect_garbage(now - self.gc_grace, self.batch)
            report.garbage_left = self.batch in (len(files_gone), len(blobs_gone))
            report.collected = len(files_gone) + len(blobs_gone)
            drop_copies(self.nodes, self.cluster, files_gone + blobs_gone, live)
        if report.copied or report.trimmed or report.failed or report.collected:
            log.info(
                "repair pass: %d copied, %d trimmed, %d failed, %d without a live copy, "
                "%d blobs collected",
                report.copied,
                report.trimmed,
                report.failed,
                len(report.unavailable),
                report.collected,
            )
        return report

    def _copy(
        self,
        state: ReplicationState,
        holders: list[NodeRecord],
        live: list[NodeRecord],
        report: RepairReport,
        shown: tuple[str, ...],
    ) -> None:
        digest = state.hash
        candidates = [n for n in live if n not in holders]
        sources = [n for n in holders if n.id in shown] or holders
        for target in choose_nodes(candidates, self.replication - state.counted):
            source = sources[report.copied % len(sources)]
            try:
                # A copy of a private copy is private: pulled with a token, kept so.
                self.nodes.copy_blob(
                    target.url,
                    digest,
                    source.url,
                    state.name,
                    state.kind,
                    private=source.id not in shown,
                )
            except CorruptCopy as exc:
                discard_copy(self.nodes, self.cluster, digest, source.id, source.url, str(exc))
                report.failed += 1
                return
            except NodeUnavailable as exc:
                log.warning("repair copy of %s to %s failed: %s", digest, target.id, exc.message)
                report.failed += 1
                continue
            report.copied += 1

    def _trim(
        self, digest: str, holders: list[NodeRecord], report: RepairReport, shown: tuple[str, ...]
    ) -> None:
        public = [n for n in holders if n.id in shown]
        private = [n for n in holders if n.id not in shown]
        extras = choose_extras(public, self.replication) + choose_extras(
            private, max(self.replication - len(public), 0)
        )
        for extra in extras:
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
                    self.run_scheduled(time.monotonic())
            except Exception:
                log.exception("repair pass failed")
            self._stop.wait(self.interval)

    def run_scheduled(self, now: float) -> RepairReport:
        """The loop's pass at monotonic time ``now``: garbage is collected when it is due,
        or when the last collection left some behind."""
        collect = (
            self._collected_at is None
            or self._garbage_left
            or now - self._collected_at >= self.collect_every
        )
        report = self.run_pass(collect=collect, trigger="background")
        if collect:
            self._collected_at, self._garbage_left = now, report.garbage_left
        return report

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
