"""Keep the master's view of this node true: a full inventory at start, then retries.

One worker per node does this (an flock on a file in the data dir elects it), so that
several gunicorn workers do not report the same inventory several times.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

from app.cluster.master_client import MasterClient, MasterUnavailable
from app.metadata.node_catalogue import BlobEntry, NodeCatalogue
from app.node.membership import Membership
from app.node.scrub import ScrubLog
from app.primitives.worker_lock import WorkerLock
from app.storage.blobstore import FileBlobStore

log = logging.getLogger(__name__)


class MasterSync:
    """Background loop: reconcile, report the inventory, then register pending copies."""

    def __init__(
        self,
        blobs: FileBlobStore,
        catalog: NodeCatalogue,
        master: MasterClient,
        membership: Membership,
        *,
        lock_path: Path,
        interval: float,
        batch_size: int,
        stale_temp_age: float,
        scrub_log: ScrubLog | None = None,
    ) -> None:
        self.blobs = blobs
        self.scrub_log = scrub_log
        self.catalog = catalog
        self.master = master
        self.membership = membership
        self.synced = False
        # The masters' sync epoch: a new one (a master rebuilding its catalogue, see
        # app.master.recovery) asks for the whole inventory again.
        self._epoch: str | None = None
        self._epoch_changes = 0
        self._interval = interval
        self._batch_size = batch_size
        self._stale_temp_age = stale_temp_age
        self._lock = WorkerLock(lock_path)
        # Copies deleted on the master's word, to confirm with the next heartbeat.
        self._deleted: list[str] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start the loop if no sibling worker runs it already; tell whether this one does."""
        if not self._lock.acquire():
            return False
        self._thread = threading.Thread(target=self._run, name="mdbx-master-sync", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._lock.release()

    def full_sync(self) -> None:
        """Make the catalogue match the disk, then tell the master exactly what is here."""
        self.blobs.clean_temp(self._stale_temp_age)
        added, removed = self.catalog.reconcile(self.blobs.iter_blobs())
        if added or removed:
            log.info("catalogue reconciled with disk: %d added, %d removed", added, removed)
        changes = self._epoch_changes
        sync_started: float | None = None
        reported = 0
        for batch in self.catalog.iter_batches(self._batch_size):
            reply = self.master.report_inventory(batch, sync_started)
            sync_started = float(reply["sync_started"])
            self._settle(batch, reply)
            reported += len(batch)
        self._settle([], self.master.report_inventory([], sync_started, complete=True))
        # Unless a new epoch came meanwhile: its master wants all of it again.
        self.synced = changes == self._epoch_changes
        log.info("inventory of %d blobs reported to %s", reported, self.master.master_url)

    def register_pending(self) -> int:
        """Register copies the master has not acknowledged; return how many."""
        done = 0
        while batch := self.catalog.pending(self._batch_size):
            refused = self._settle(batch, self.master.report_inventory(batch))
            done += len(batch) - refused
            if refused:
                break  # they stay pending: tried again at the next round
        return done

    def _settle(self, batch: list[BlobEntry], reply: dict[str, Any]) -> int:
        """Mark what the master took as registered, drop what it deleted, hide the copies
        it holds private (a catalogue rebuilt from the disk, or from before copies had a
        visibility, has them public), keep what it says of the cluster; return how many
        copies it refused (it did not find them here when it looked)."""
        refused = {h for h in reply.get("refused", []) if isinstance(h, str)}
        self.catalog.mark_registered(entry.hash for entry in batch if entry.hash not in refused)
        self.drop(reply.get("drop", []))
        hidden = [h for h in reply.get("private", []) if isinstance(h, str)]
        if hidden and (count := self.catalog.hide(hidden)):
            log.info("%d copies made private, as the master holds them", count)
        self.membership.learn(reply)
        self._note_epoch(reply)
        if refused:
            # One gone from the disk meanwhile made the master's check fail: it is not
            # ours to register any more. The others are, at the next try.
            self.catalog.remove(h for h in refused if not self.blobs.on_disk(h))
            log.warning("the master refused %d copies of this node's inventory", len(refused))
        return len(refused)

    def beat(self) -> None:
        """Send the heartbeat (disk figures, scrubbing) and carry out deletions the
        masters ask for."""
        stats = self.catalog.stats()
        disk = os.statvfs(self.blobs.root)
        figures = {
            "capacity_bytes": disk.f_blocks * disk.f_frsize,
            "free_bytes": disk.f_bavail * disk.f_frsize,
            "used_bytes": stats.bytes,
            "files": stats.blobs,
        }
        scrub = self.scrub_log.figures() if self.scrub_log is not None else None
        deleted, self._deleted = self._deleted, []
        try:
            reply = self.master.heartbeat(figures, deleted, scrub)
        except MasterUnavailable:
            self._deleted = deleted + self._deleted
            raise
        self.drop(reply["delete"])
        self.membership.learn(reply)
        self._note_epoch(reply)

    def _note_epoch(self, reply: dict[str, Any]) -> None:
        epoch = reply.get("sync_epoch")
        if not isinstance(epoch, str) or epoch == self._epoch:
            return
        if self._epoch is not None:
            log.info("the master asks for the whole inventory again (sync epoch %s)", epoch)
            self.synced = False
            self._epoch_changes += 1
        self._epoch = epoch

    def drop(self, digests: list[str]) -> None:
        """Delete copies of deleted files; they are confirmed with the next heartbeat."""
        for digest in digests:
            self.blobs.delete(digest)
            self.catalog.remove([digest])
            self._deleted.append(digest)

    def _sweep_temp(self) -> None:
        # Not only at start: a crash leaves temp files that are not stale yet when the node
        # comes back, and a client that vanished mid-upload may leave one behind.
        try:
            self.blobs.recover_sealed(self._stale_temp_age)
            self.blobs.clean_temp(self._stale_temp_age)
        except OSError:
            log.exception("could not sweep stale temp files")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.synced:
                    self.full_sync()
                self.register_pending()
                self.beat()
            except MasterUnavailable as exc:
                log.warning("master sync postponed: %s", exc.message)
            except Exception:
                log.exception("master sync failed")
            self._sweep_temp()
            self._wake.wait(self._interval)
            self._wake.clear()
