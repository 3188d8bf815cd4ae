"""Background scrubbing: re-hash every blob on this node, quarantine the ones that rotted.

A pass walks the blob tree at a bounded byte rate (so it never starves user traffic),
re-hashes each blob, moves a mismatching one to quarantine, drops its catalogue row and
reports it (the master then repairs it from a replica). It also drops catalogue rows
whose blob file has vanished. One worker per node runs the loop, elected by an flock as
MasterSync is; any worker may still run a pass on demand (``POST /scrub``). When passes
start and end is kept in the node's settings (``ScrubLog``): the heartbeat that tells the
master may come from another worker.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.metadata.node_catalogue import NodeCatalogue
from app.metadata.settings import SettingStore
from app.metrics.families import SCRUB_CORRUPT
from app.primitives.worker_lock import WorkerLock
from app.storage.blobstore import FileBlobStore
from app.storage.tree import VERIFY_CHUNK

log = logging.getLogger(__name__)

# Catalogue rows checked for a missing file per query (keyset pages).
MISSING_BATCH = 1000
# Pause after each chunk of an unthrottled pass: just enough to let gevent run requests.
YIELD_SECONDS = 1e-6


@dataclass
class ScrubReport:
    """What one pass found; ``seconds`` is its wall time."""

    checked: int = 0
    bytes: int = 0
    corrupt: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    seconds: float = 0.0
    interrupted: bool = False


class ScrubLog:
    """The start of the latest pass and the figures of the last finished one, in the
    node's settings table: every worker reads what the scrubbing one wrote."""

    STARTED = "scrub.started_at"
    LAST_PASS = "scrub.last_pass"

    def __init__(self, settings: SettingStore) -> None:
        self.settings = settings

    def started(self) -> None:
        self.settings.put(self.STARTED, repr(time.time()))

    def finished(self, report: ScrubReport) -> None:
        figures = {
            "finished_at": time.time(),
            "seconds": round(report.seconds, 3),
            "checked": report.checked,
            "corrupt": len(report.corrupt),
            "missing": len(report.missing),
        }
        self.settings.put(self.LAST_PASS, json.dumps(figures))

    def figures(self) -> dict[str, float | int]:
        """What the heartbeat reports (``scrub``): started_at, finished_at, seconds,
        checked, corrupt, missing; zeros before the first pass."""
        started = self.settings.get(self.STARTED)
        last = self.settings.get(self.LAST_PASS)
        figures: dict[str, float | int] = {"started_at": float(started) if started else 0.0}
        figures.update(
            json.loads(last)
            if last
            else {"finished_at": 0.0, "seconds": 0.0, "checked": 0, "corrupt": 0, "missing": 0}
        )
        return figures


class _Interrupted(Exception):
    """Raised from the throttle to abandon a pass when the scrubber stops."""


class _Pacer:
    """A token bucket without burst: reading n bytes books n / rate seconds.

    Shared by every pass of one Scrubber, so an on-demand pass running beside the
    background one does not double this worker's disk load.
    """

    def __init__(self, bytes_per_second: float) -> None:
        self._rate = bytes_per_second
        self._lock = threading.Lock()
        self._next_free = 0.0

    def delay_for(self, size: int) -> float:
        """Book ``size`` bytes; return how long to wait before reading on."""
        if self._rate <= 0:
            return 0.0
        with self._lock:
            now = time.monotonic()
            # Idle time earns no credit: after a pause the rate holds from the first chunk.
            self._next_free = max(self._next_free, now) + size / self._rate
            return self._next_free - now


class Scrubber:
    """Verify the node's blobs against their hashes, once or every ``interval`` seconds."""

    def __init__(
        self,
        blobs: FileBlobStore,
        catalog: NodeCatalogue,
        on_corrupt: Callable[[str], None],
        *,
        bytes_per_second: float,
        interval: float,
        lock_path: Path,
        on_missing: Callable[[str], None] | None = None,
        chunk_size: int = VERIFY_CHUNK,
        log_to: ScrubLog | None = None,
    ) -> None:
        self.blobs = blobs
        self.log_to = log_to
        self.catalog = catalog
        self.last_report: ScrubReport | None = None
        self._on_corrupt = on_corrupt
        self._on_missing = on_missing
        self._interval = interval
        self._chunk_size = chunk_size
        self._pacer = _Pacer(bytes_per_second)
        self._lock = WorkerLock(lock_path)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._active = 0
        self._active_lock = threading.Lock()
        # Reports whose callback failed (master down): retried before each later pass.
        self._unreported: dict[str, Callable[[str], None]] = {}

    @property
    def running(self) -> bool:
        """Tell whether a pass is under way in this process."""
        return self._active > 0

    def start(self) -> bool:
        """Start the loop if no sibling worker runs it already; tell whether this one does."""
        if not self._lock.acquire():
            return False
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mdbx-scrub", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        """Stop the loop and any pass in progress (within one chunk), then free the lock."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._lock.release()

    def run_pass(self, limit: int | None = None) -> ScrubReport:
        """Check catalogue rows against the disk, then verify up to ``limit`` blobs.

        Returns early, with ``interrupted`` set, once ``stop()`` is called.
        """
        report = ScrubReport()
        started = time.monotonic()
        with self._active_lock:
            self._active += 1
        if self.log_to is not None:
            self.log_to.started()
        try:
            self._retry_reports()
            # Cheap stats first, so an interrupted pass has done at least this part.
            self._drop_missing(report)
            self._verify_all(report, limit)
        except _Interrupted:
            report.interrupted = True
        finally:
            with self._active_lock:
                self._active -= 1
        report.seconds = time.monotonic() - started
        self.last_report = report
        if report.corrupt:
            SCRUB_CORRUPT.inc(len(report.corrupt))
        if self.log_to is not None:
            self.log_to.finished(report)
        log.info(
            "scrub pass%s: %d blobs, %d bytes in %.1fs; %d corrupt, %d missing",
            " (interrupted)" if report.interrupted else "",
            report.checked,
            report.bytes,
            report.seconds,
            len(report.corrupt),
            len(report.missing),
        )
        return report

    def _drop_missing(self, report: ScrubReport) -> None:
        # A row is written after its blob's rename, so a row without a file means the
        # file went away, not that it is on its way.
        for batch in self.catalog.iter_batches(MISSING_BATCH):
            self._check_stop()
            gone = [e.hash for e in batch if not self.blobs.on_disk(e.hash)]
            # Look again just before dropping: a repair may have restored one meanwhile.
            gone = [digest for digest in gone if not self.blobs.on_disk(digest)]
            if not gone:
                continue
            self.catalog.remove(gone)
            report.missing.extend(gone)
            for digest in gone:
                log.warning("blob %s is in the catalogue but not on disk", digest)
                if self._on_missing is not None:
                    self._report(self._on_missing, digest)

    def _verify_all(self, report: ScrubReport, limit: int | None) -> None:
        def throttle(size: int) -> None:
            report.bytes += size
            self._pause(self._pacer.delay_for(size))

        for digest, _size in self.blobs.iter_blobs():
            if limit is not None and report.checked >= limit:
                return
            self._check_stop()
            verdict = self._verify(digest, throttle)
            if verdict is None:
                continue  # deleted or quarantined by someone else since the walk saw it
            report.checked += 1
            if verdict:
                continue
            # Check again through a fresh open: the path may now name a complete new file
            # (a repair's os.replace) that the first fd never saw.
            if self._verify(digest, throttle) is not False:
                log.info("blob %s was replaced while being verified; keeping it", digest)
                continue
            if self.blobs.quarantine(digest) is None:
                continue  # a sibling worker's pass got to it first, and reports it
            self.catalog.remove([digest])
            report.corrupt.append(digest)
            self._report(self._on_corrupt, digest)

    def _verify(self, digest: str, throttle: Callable[[int], None]) -> bool | None:
        try:
            return self.blobs.verify(digest, self._chunk_size, throttle)
        except OSError:
            # A dying disk answers EIO: the bytes are as lost as rotten ones, and letting
            # the error end the pass would stop every later pass at the same blob.
            log.exception("blob %s could not be read", digest)
            return False

    def _pause(self, seconds: float) -> None:
        """Wait out the rate limit, yet wake at once when stopped."""
        if seconds > 0:
            # Event.wait, not time.sleep: stop() cuts it short. gevent patches both.
            if self._stop.wait(seconds):
                raise _Interrupted
        else:
            # Reading files and hashing never block in a way gevent sees, so an unlimited
            # pass would hold a gevent worker for its whole length. A non-zero sleep runs
            # gevent's loop (sleep(0) does not poll I/O); it costs ~60 µs in a real thread.
            time.sleep(YIELD_SECONDS)
            self._check_stop()

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise _Interrupted

    def _report(self, callback: Callable[[str], None], digest: str) -> None:
        try:
            callback(digest)
        except Exception:
            log.exception("could not report blob %s; will retry", digest)
            self._unreported[digest] = callback
        else:
            self._unreported.pop(digest, None)

    def _retry_reports(self) -> None:
        for digest, callback in list(self._unreported.items()):
            self._report(callback, digest)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pass()
            except Exception:
                log.exception("scrub pass failed")
            self._stop.wait(self._interval)
