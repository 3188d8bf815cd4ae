"""Tell the masters which copies this node lacks, off the request path.

A copy can go behind the master's back: a ``DELETE /blobs/<hash>`` sent by hand, a file
lost from the disk. Until the master hears of it, it redirects reads to this node, which
answers 404, and counts the copy, so that repair never replaces it. So whenever the node
finds it lacks a blob (a read, a delete), it reports it (``missing``), as one of:

- lost: a copy it knew it had (deleted here, or in its catalogue and gone from the disk:
  the catalogue row goes too). Kept until a master has it; every one is delivered.
- absent: any other hash asked for, that a master may still place here. Best-effort:
  anyone can ask for any hash, so at most ``max_absent`` wait, and a hash reported is not
  reported again for ``resend_after`` seconds.

A background thread (a greenlet under gevent) sends what waits at most once per
``delay`` seconds, in batches, after looking at the disk again.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy.exc import DBAPIError

from app.metadata.node_catalogue import NodeCatalogue
from app.primitives.lru import LRUCache
from app.storage.blobstore import FileBlobStore

log = logging.getLogger(__name__)

# Hashes per call to the master (its limit is 10,000).
REPORT_BATCH = 1000
DELAY = 0.5
RETRY_DELAY = 5.0
MAX_ABSENT = 1000
RESEND_AFTER = 60.0


class LossReporter:
    """Gathers reports of missing copies and sends them in batches (see the module)."""

    def __init__(
        self,
        blobs: FileBlobStore,
        catalog: NodeCatalogue,
        send: Callable[[Sequence[str]], object],
        *,
        delay: float = DELAY,
        retry_delay: float = RETRY_DELAY,
        max_absent: int = MAX_ABSENT,
        resend_after: float = RESEND_AFTER,
    ) -> None:
        self.blobs = blobs
        self.catalog = catalog
        self._send = send
        self._delay = delay
        self._retry_delay = retry_delay
        self._max_absent = max_absent
        self._resend_after = resend_after
        # hash -> the number of its note, so that a hash noted again while its report is
        # on its way stays to be reported.
        self._lost: dict[str, int] = {}
        self._absent: dict[str, int] = {}
        self._notes = itertools.count()
        self._reported: LRUCache[str, float] = LRUCache(10 * max_absent)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def waiting(self) -> int:
        """How many reports wait to be sent."""
        return len(self._lost) + len(self._absent)

    def missing(self, digest: str, *, had: bool = False) -> None:
        """Report a blob this node lacks; ``had``: it was here until now (deleted)."""
        if not had and self.catalog.name_of(digest) is not None:
            had = True  # catalogued, and gone from the disk
            try:
                self.catalog.remove([digest])
            except (sqlite3.Error, DBAPIError) as exc:
                # A full disk, say: the row waits for the scrub; a read still gets its 404.
                log.warning("catalogue row of lost blob %s not removed: %s", digest, exc)
        if had:
            self._note_lost(digest)
        else:
            self._note_absent(digest)

    def _note_lost(self, digest: str) -> None:
        with self._lock:
            self._lost[digest] = next(self._notes)
            self._absent.pop(digest, None)
        self._wake.set()

    def _note_absent(self, digest: str) -> None:
        now = time.monotonic()
        with self._lock:
            if digest in self._lost or digest in self._absent:
                return
            sent = self._reported.get(digest)
            if sent is not None and now - sent < self._resend_after:
                return
            if len(self._absent) >= self._max_absent:
                return  # a flood of reads of hashes nobody stored: not worth a call each
            self._absent[digest] = next(self._notes)
        self._wake.set()

    def flush(self) -> list[str]:
        """Send every report waiting; return the hashes sent.

        Whatever ``send`` raises propagates, and the reports of that batch stay.
        """
        sent: list[str] = []
        while True:
            with self._lock:
                batch = dict(
                    itertools.islice(
                        itertools.chain(self._lost.items(), self._absent.items()), REPORT_BATCH
                    )
                )
            if not batch:
                return sent
            # A copy back meanwhile (a repair, the same bytes uploaded again) is not lost.
            gone = [digest for digest in batch if not self.blobs.on_disk(digest)]
            if gone:
                self._send(gone)
            now = time.monotonic()
            with self._lock:
                for digest, note in batch.items():
                    for waiting in (self._lost, self._absent):
                        if waiting.get(digest) == note:
                            del waiting[digest]
                    self._reported.put(digest, now)
            sent += gone

    def start(self) -> None:
        """Send reports from a background thread until ``stop``."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mdbx-loss-reports", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            # Reports noted meanwhile join this batch; and a node asked for thousands of
            # missing hashes makes at most one call per delay.
            if self._stop.wait(self._delay):
                return
            try:
                self.flush()
            except Exception as exc:
                log.warning("reports of %d missing copies postponed: %s", self.waiting, exc)
                if self._stop.wait(self._retry_delay):
                    return
                self._wake.set()
