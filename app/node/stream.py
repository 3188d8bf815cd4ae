"""Hold a stream to every master, so that a master knows at once when this node dies.

The kernel closes a killed process's sockets; a master watching this node's stream
(``app.master.streams``) sees it close, checks the node's /health and marks it down,
instead of waiting NODE_TIMEOUT for the missing heartbeats. One greenlet per master
in the worker that runs the sync loop (one stream per node and master); a stream that
ends (the master restarts, a proxy cut it) is opened again at once, then every
RETRY_DELAY while the master is away.
"""

from __future__ import annotations

import logging
import threading

from app.cluster.master_client import MasterUnavailable
from app.cluster.master_stream import MasterStream

log = logging.getLogger(__name__)

# Seconds between attempts while a master does not take the stream (a restart takes
# a couple of seconds; its nodes are back on it within this of its start).
RETRY_DELAY = 0.5
REOPEN_DELAY = 0.05


class MasterStreams:
    """One held stream per master, each in its own thread."""

    def __init__(self, streams: list[MasterStream]) -> None:
        self.streams = streams
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for stream in self.streams:
            thread = threading.Thread(
                target=self._run, args=(stream,), name="mdbx-master-stream", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for stream in self.streams:
            stream.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _run(self, stream: MasterStream) -> None:
        away = False  # logged once per outage, not at every attempt

        def opened() -> None:
            nonlocal away
            if away:
                log.info("stream to the master at %s open again", stream.master_url)
            away = False

        while not self._stop.is_set():
            try:
                stream.hold(opened)
                # The master ended it (it is stopping): open it again at once, or
                # nearly (a master that ended it at once must not be asked in a loop).
                self._stop.wait(REOPEN_DELAY)
                continue
            except MasterUnavailable as exc:
                if not away and not self._stop.is_set():
                    log.warning("%s; opening it again", exc.message)
                away = True
            except Exception:
                log.exception("stream to the master at %s failed", stream.master_url)
                away = True
            self._stop.wait(RETRY_DELAY)
