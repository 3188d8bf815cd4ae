"""``mdbx sync --watch``: sync again whenever either side changes.

Local changes are seen by a file-system watcher (watchdog), debounced so that a burst of
writes makes one sync; remote ones by the master's long poll (``/api/changes/wait``),
which answers within about a second of a change made anywhere. A full scan runs every
``interval`` seconds anyway, for what a watcher can miss (a network drive, an overflow).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from app.client.errors import ClientError, MasterUnreachable, NotLoggedIn
from app.client.sync.local import TRASH_DIR
from app.client.sync.runner import Outcome, Syncer
from app.client.sync.state import STATE_DIR

log = logging.getLogger(__name__)

# Seconds: quiet wanted after a local change before syncing, and the most it waits.
DEBOUNCE = 0.2
MAX_DEBOUNCE = 3.0
# Seconds each long poll holds (the master allows 120), and the wait after a failure.
LONG_POLL = 30
RETRY = 3.0


class _LocalChanges(FileSystemEventHandler):
    """Sets ``wake`` on any change of the folder but the sync's own files."""

    def __init__(self, root: Path, wake: threading.Event) -> None:
        self.skipped = tuple(str(root / name) for name in (STATE_DIR, TRASH_DIR))
        self.wake = wake

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [str(event.src_path), str(getattr(event, "dest_path", "") or "")]
        if any(p and not p.startswith(self.skipped) for p in paths):
            self.wake.set()


class FolderWatch:
    """Runs ``syncer`` now and after every change, until ``stop`` is set."""

    def __init__(self, syncer: Syncer, interval: float, stop: threading.Event) -> None:
        self.syncer = syncer
        self.interval = interval
        self.stop = stop
        self.wake = threading.Event()
        self._runs = threading.Condition()
        self._done = 0
        self._cursor: str | None = None

    def run(self, on_outcome: Callable[[Outcome], object]) -> None:
        observer = Observer()
        observer.schedule(
            _LocalChanges(self.syncer.root, self.wake), str(self.syncer.root), recursive=True
        )
        observer.start()
        poller = threading.Thread(target=self._poll_remote, name="mdbx-long-poll", daemon=True)
        poller.start()
        try:
            while not self.stop.is_set():
                self.wake.clear()
                try:
                    on_outcome(self.syncer.run())
                except (MasterUnreachable, NotLoggedIn) as exc:
                    log.warning("sync failed, trying again: %s", exc)
                    self.stop.wait(RETRY)
                self._ran(self.syncer.state.setting("cursor"))
                if self.wake.wait(self.interval):
                    self._settle()
        finally:
            self.stop.set()
            with self._runs:
                self._runs.notify_all()
            observer.stop()
            observer.join(timeout=5)

    def _settle(self) -> None:
        """Wait for a burst of local changes to end (at most ``MAX_DEBOUNCE``)."""
        deadline = time.monotonic() + MAX_DEBOUNCE
        while time.monotonic() < deadline and not self.stop.is_set():
            self.wake.clear()
            if not self.wake.wait(DEBOUNCE):
                return

    def _ran(self, cursor: str | None) -> None:
        with self._runs:
            self._cursor = cursor
            self._done += 1
            self._runs.notify_all()

    def _poll_remote(self) -> None:
        """Long-poll the feed from the cursor of the last run; wake the loop on a change
        and wait for it to run before polling again (from its new cursor)."""
        while not self.stop.is_set():
            with self._runs:
                seen, cursor = self._done, self._cursor
            try:
                changed = cursor is not None and self.syncer.remote.wait(cursor, LONG_POLL)
            except ClientError as exc:
                log.warning("long poll failed: %s", exc)
                self.stop.wait(RETRY)
                continue
            if cursor is None or changed:
                if changed:
                    self.wake.set()
                self._wait_for_run_after(seen)

    def _wait_for_run_after(self, seen: int) -> None:
        with self._runs:
            self._runs.wait_for(lambda: self._done > seen or self.stop.is_set())
