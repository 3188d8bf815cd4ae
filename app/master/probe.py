"""The master's probe of its nodes: a node may beat and yet answer nothing.

A node's heartbeat comes from a greenlet of its own, so a node whose serving is stuck (its
pool of connections full, its disk hung) or that stopped outright (SIGSTOP, a VM paused)
stays ``up`` until NODE_TIMEOUT passes, or for good when only its serving is stuck: the
master kept placing writes on it and sending reads to it, and its proxied reads hung.
Every NODE_PROBE_INTERVAL seconds the master asks each node that beats for ``/health``;
one that does not answer within NODE_PROBE_TIMEOUT is marked unresponsive in the cluster
table, which every worker of every master reads, and left out of placement, reads and
repair until it answers again. A refused connection marks nothing: calls to that node
fail at once rather than hang, and its heartbeats stop. One worker per master machine
probes (an flock, as for the repairer).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from app.cluster.node_client import NodeClient
from app.metadata.cluster import ClusterStore
from app.metadata.records import NodeRecord
from app.primitives.worker_lock import WorkerLock

log = logging.getLogger(__name__)

# Nodes probed at once (each probe waits at most the probe timeout).
PARALLEL_PROBES = 16


class NodeProber:
    """Marks the nodes that beat but do not answer, and clears them when they do."""

    def __init__(
        self,
        cluster: ClusterStore,
        nodes: NodeClient,
        *,
        node_timeout: float,
        interval: float,
        timeout: float,
        lock_path: Path,
    ) -> None:
        self.cluster = cluster
        self.nodes = nodes
        self.node_timeout = node_timeout
        self.interval = interval
        self.timeout = (timeout, timeout)  # to connect, then for the answer's first byte
        self._lock = WorkerLock(lock_path)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mdbx-probe", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def probe_once(self) -> dict[str, bool | None]:
        """Probe every node that beats; record what changed; return what each said
        (``NodeClient.answers``)."""
        started = time.time()
        beating = [
            n for n in self.cluster.list_nodes() if n.state(started, self.node_timeout) != "down"
        ]
        if not beating:
            return {}
        with ThreadPoolExecutor(min(len(beating), PARALLEL_PROBES), "mdbx-probe") as pool:
            answered = list(pool.map(lambda n: self.nodes.answers(n.url, self.timeout), beating))
        for node, answers in zip(beating, answered, strict=True):
            self._record(node, answers, started)
        return {node.id: answers for node, answers in zip(beating, answered, strict=True)}

    def _record(self, node: NodeRecord, answers: bool | None, probed_at: float) -> None:
        if answers and node.unresponsive_since:
            log.warning("node %s at %s answers again", node.id, node.url)
            self.cluster.mark_unresponsive(node.id, 0.0)
        elif answers is False and not node.unresponsive_since:
            log.warning(
                "node %s at %s does not answer within %.1f s although it beats: left out "
                "of placement and reads until it does",
                node.id,
                node.url,
                self.timeout[1],
            )
            self.cluster.mark_unresponsive(node.id, probed_at)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._lock.acquire():
                    self.probe_once()
            except Exception:
                log.exception("node probe failed")
            self._stop.wait(self.interval)
