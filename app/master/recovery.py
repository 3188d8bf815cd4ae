"""A master rebuilt from its nodes, and the schedule of snapshots.

A master started on an empty database (or asked to: ``POST /admin/recover``) is
*recovering*: it hands its nodes a new sync epoch (``sync_epoch`` in every answer to a
node), so each one reports its whole inventory again. The inventories bring back the
small files (each its own blob, named), the manifests of the large ones (read and
parsed as they are reported: ``app.master.reports``) and the snapshots kept. Once every
live node has reported all it holds (and SETTLE seconds passed, for every running node
to have beaten: or RECOVERY_WAIT after the first reported), the latest
snapshot restores the user trees, if the database has none, the journal's records
put back the changes it does not hold (``app.master.journal``), and the recovery's
report
is kept for ``GET /admin/recover``. Garbage collection waits meanwhile: a block whose
manifest is not read yet, or a private file whose user tree is not restored yet, is
referenced by nothing.

One worker of one master runs the loop (an flock on a file in the data dir); it also
takes a snapshot every SNAPSHOT_INTERVAL seconds when something changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.errors import AppError, ServiceUnavailable
from app.master.journal import TreeJournal
from app.master.snapshots import Snapshots
from app.metadata.account_schema import fs_entries, users
from app.metadata.catalogue_schema import file_blocks, files
from app.metadata.records import NodeRecord
from app.metadata.recovery_schema import manifests
from app.metadata.settings import SettingStore
from app.primitives.worker_lock import WorkerLock

log = logging.getLogger(__name__)

PENDING = "recovery.pending"  # JSON {"since", "trigger"} while recovering, else ""
LAST = "recovery.last"  # JSON: the last recovery's report
EPOCH = "sync.epoch"  # nodes report their whole inventory again when it changes
SYNCED_PREFIX = "recovery.synced."
# The loop's tick (seconds): how soon a recovery ends once the inventories are in.
TICK = 0.5
# Seconds a recovery waits at least, so that every running node counts among the live
# nodes whose inventory it waits for: a node reopens its stream to a master within half
# a second of the master's start (app.node.stream), which records it alive.
SETTLE = 2.5
# Seconds an admin's recover waits beyond RECOVERY_WAIT for the nodes' inventories.
RECOVER_DEADLINE = 60.0
# How long the sync epoch is cached per worker (it is in every answer to a node).
EPOCH_TTL = 1.0


def synced_key(node_id: str) -> str:
    # Node ids may be long; the settings' names are at most 64 characters.
    return SYNCED_PREFIX + hashlib.sha256(node_id.encode()).hexdigest()[:32]


class Recovery:
    """The recovery state (in the settings table, for every worker) and its loop."""

    def __init__(
        self,
        settings: SettingStore,
        snapshots: Snapshots,
        live_nodes: Callable[[], list[NodeRecord]],
        journal: TreeJournal,
        *,
        wait: float,
        snapshot_interval: float,
        lock_path: Path,
    ) -> None:
        self.settings = settings
        self.snapshots = snapshots
        self.engine = snapshots.engine
        self.live_nodes = live_nodes
        self.journal = journal
        self.wait = wait
        self.snapshot_interval = snapshot_interval
        self._lock = WorkerLock(lock_path)
        self._epoch: tuple[float, str] | None = None
        self._pending: tuple[float, bool] | None = None
        self._last_snapshot = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ----- state -----

    def begin_if_new(self) -> bool:
        """Start a recovery if this database is new: no file, no user and no sync epoch
        yet (a master started on an empty data directory); True if so."""
        if self.settings.get(EPOCH) is not None:
            return False
        with self.engine.connect() as conn:
            empty = all(
                conn.execute(select(table.c[column]).limit(1)).first() is None
                for table, column in ((files, "hash"), (users, "id"))
            )
        if empty:
            self.begin("empty database at start")
        return empty

    def begin(self, trigger: str) -> None:
        """Start a recovery: every node reports its inventory again (a new epoch)."""
        since = time.time()
        self.settings.put(PENDING, json.dumps({"since": since, "trigger": trigger}))
        self.settings.put(EPOCH, secrets.token_hex(8))
        self._epoch = self._pending = None
        log.warning("recovering the catalogue from the nodes (%s)", trigger)

    def pending_since(self) -> float | None:
        text = self.settings.get(PENDING)
        return float(json.loads(text)["since"]) if text else None

    def is_recovering(self) -> bool:
        """Whether a recovery is under way (cached for a second: GC asks every pass)."""
        now = time.monotonic()
        if self._pending is None or now - self._pending[0] > EPOCH_TTL:
            self._pending = (now, self.pending_since() is not None)
        return self._pending[1]

    def epoch(self) -> str:
        """The sync epoch nodes are told (a new one asks them for their whole inventory)."""
        now = time.monotonic()
        if self._epoch is None or now - self._epoch[0] > EPOCH_TTL:
            value = self.settings.get_or_create(EPOCH, lambda: secrets.token_hex(8))
            self._epoch = (now, value)
        return self._epoch[1]

    def note_synced(self, node_id: str) -> None:
        """A node's complete inventory arrived (noted only while recovering)."""
        if self.pending_since() is not None:  # not the cached answer: a sync is rare
            self.settings.put(synced_key(node_id), repr(time.time()))

    def last_report(self) -> dict[str, Any] | None:
        text = self.settings.get(LAST)
        return json.loads(text) if text else None

    def status(self) -> dict[str, Any]:
        since = self.pending_since()
        return {"recovering": since is not None, "since": since, "last": self.last_report()}

    # ----- the work -----

    def try_finish(self) -> dict[str, Any] | None:
        """End the recovery under way if its inventories are in; return its report."""
        since = self.pending_since()
        if since is None:
            return None
        live = self.live_nodes()
        synced = [n for n in live if _float(self.settings.get(synced_key(n.id))) >= since]
        waited = time.time() - since
        if not synced or (waited < self.wait and (len(synced) < len(live) or waited < SETTLE)):
            return None
        report = self._restore_trees()
        report.update(
            {
                "started_at": since,
                "finished_at": time.time(),
                "seconds": round(time.time() - since, 3),
                "nodes": sorted(n.id for n in synced),
                **self._counts(),
            }
        )
        self.settings.put(LAST, json.dumps(report))
        self.settings.put(PENDING, "")
        self._pending = None
        log.warning("recovery done: %s", report)
        return report

    def _restore_trees(self) -> dict[str, Any]:
        """Restore the latest snapshot that a node serves, if the database has no user."""
        found: dict[str, Any] = {"snapshot": None, "restored": False}
        with self.engine.connect() as conn:
            has_users = conn.execute(select(users.c.id).limit(1)).first() is not None
        for info in self.snapshots.list():
            found["snapshot"] = {"hash": info["hash"], "taken_at": info["taken_at"]}
            if has_users:
                break  # the trees are there: restoring is the operator's (admin restore)
            try:
                data = self.snapshots.read(info["hash"])
            except AppError as exc:
                log.warning("snapshot %s unreadable: %s", info["hash"][:12], exc.message)
                continue
            found["restored"] = True
            restored = self.snapshots.restore(data)
            found["restore"] = restored.to_dict()
            # The changes it lacks, from the journal (``app.master.journal``); its feed
            # heads tell which (read before the replay, which moves the live ones).
            found["journal"] = self.journal.replay_after(info["taken_at"], restored.feed_heads)
            break
        return found

    def _counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:

            def count(query: Any) -> int:
                return int(conn.execute(query).scalar_one())

            return {
                "files": count(select(func.count()).select_from(files)),
                "blocks": count(select(func.count(func.distinct(file_blocks.c.block_hash)))),
                "manifests": count(select(func.count()).select_from(manifests)),
                "users": count(select(func.count()).select_from(users)),
                "entries": count(select(func.count()).select_from(fs_entries)),
            }

    def wait_done(self, deadline: float) -> dict[str, Any]:
        """Wait (bounded) for the recovery under way to end; its report, else 503."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.pending_since() is None:
                report = self.last_report()
                assert report is not None
                return report
            self._stop.wait(TICK)
        raise ServiceUnavailable(
            f"the recovery did not end within {deadline:.0f} s: are the nodes up? "
            "GET /admin/recover tells when it does",
            code="recovery_pending",
        )

    def take_snapshot(self, *, only_if_changed: bool = False) -> dict[str, Any] | None:
        """Snapshot the user trees (``Snapshots.take``), never while recovering: the
        trees are not back yet, and an empty snapshot would be the latest one."""
        if self.pending_since() is not None:
            raise ServiceUnavailable(
                "the master is rebuilding its catalogue from its nodes: snapshot it after "
                "(GET /admin/recover tells when)",
                code="recovery_pending",
            )
        return self.snapshots.take(only_if_changed=only_if_changed)

    def recover(self) -> dict[str, Any]:
        """Rebuild from the nodes now (``POST /admin/recover``): begin, wait for the end
        (at most RECOVERY_WAIT and a minute more), return the report."""
        self.begin("admin request")
        return self.wait_done(self.wait + RECOVER_DEADLINE)

    # ----- the loop -----

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mdbx-recovery", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            try:
                if not self._lock.acquire():
                    continue
                if self.pending_since() is not None:
                    self.try_finish()
                elif (
                    self.snapshot_interval
                    and time.monotonic() - self._last_snapshot >= self.snapshot_interval
                ):
                    self._last_snapshot = time.monotonic()
                    self.take_snapshot(only_if_changed=True)
            except Exception:
                log.exception("recovery or snapshot step failed")


def _float(text: str | None) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError:
        return 0.0
