"""Long polls of the change feed: one poller per process serves every request waiting
for a change (``/api/changes/wait``), however many there are.

Each pass reads the feed position of every user someone waits for, in one indexed
query, and looks closer (one query) only where a position moved and the waiter follows
a folder. The requests wait on an event and hold no database connection; a change
made by any worker or master is in the database, so it is seen within one interval.
Threads and events are gevent's in a gevent worker (patched), real ones elsewhere.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.metadata.changes import FeedStore
from app.metadata.entries import ROOT

log = logging.getLogger(__name__)

# Seconds between the poller's passes: a change is seen within this (plus a query).
POLL_INTERVAL = 0.25
# Seconds between looks at whether a long poll's caller is still there.
GONE_CHECK = 1.0


@dataclass(eq=False)
class _Waiter:
    user_id: int
    # The position up to which nothing concerned it.
    seen: int
    scope: str
    event: threading.Event = field(default_factory=threading.Event)
    found: bool = False


class ChangeWatch:
    """Wait for changes of users' feeds; one poller thread, started at the first wait."""

    def __init__(self, feed: FeedStore, interval: float = POLL_INTERVAL) -> None:
        self._feed = feed
        self._interval = interval
        self._waiters: set[_Waiter] = set()
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def wait(
        self,
        user_id: int,
        after: int,
        scope: str,
        timeout: float,
        client_gone: Callable[[float], bool] | None = None,
    ) -> bool:
        """Whether a change after position ``after`` concerns ``scope``, waiting up to
        ``timeout`` seconds for one; a caller that left (``client_gone``, looked at every
        GONE_CHECK seconds) ends the wait, which would else hold its socket for nothing."""
        position = self._feed.check(user_id, after)
        if position > after and self._feed.has_change(user_id, after, position, scope):
            return True
        waiter = _Waiter(user_id, position, scope)
        with self._lock:
            self._waiters.add(waiter)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="mdbx-change-watch", daemon=True
                )
                self._thread.start()
        self._wakeup.set()
        try:
            end = time.monotonic() + timeout
            while not waiter.event.is_set() and (left := end - time.monotonic()) > 0:
                if client_gone is None:
                    waiter.event.wait(left)
                elif not waiter.event.wait(min(left, GONE_CHECK)) and client_gone(0.001):
                    break
        finally:
            with self._lock:
                self._waiters.discard(waiter)
        return waiter.found

    def waiting(self) -> int:
        """How many requests wait now."""
        with self._lock:
            return len(self._waiters)

    def close(self) -> None:
        self._stopped.set()
        self._wakeup.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            with self._lock:
                waiters = list(self._waiters)
            if not waiters:
                self._wakeup.wait()
                self._wakeup.clear()
                continue
            try:
                self._poll(waiters)
            except Exception:  # a database hiccup: the next pass tries again
                log.exception("change watch: a poll failed")
            self._stopped.wait(self._interval)

    def _poll(self, waiters: list[_Waiter]) -> None:
        positions = self._feed.positions(sorted({waiter.user_id for waiter in waiters}))
        # Many waiters often follow the same folder from the same position (clients of
        # one account): one look each.
        looked: dict[tuple[int, int, str], bool] = {}
        for waiter in waiters:
            position = positions.get(waiter.user_id, 0)
            if position <= waiter.seen:
                continue
            key = (waiter.user_id, waiter.seen, waiter.scope)
            if key not in looked:
                looked[key] = waiter.scope == ROOT or self._feed.has_change(
                    waiter.user_id, waiter.seen, position, waiter.scope
                )
            if looked[key]:
                waiter.found = True
                waiter.event.set()
            else:
                waiter.seen = position
