"""The nodes' streams: a node's death known at once, not NODE_TIMEOUT later.

Heartbeats every 2 s and a NODE_TIMEOUT of 15 s left the master sending reads to a node
killed with ``kill -9`` for 15 s (a third of the ``/download`` redirects failed in those
seconds, measured). As SeaweedFS learns a volume server's death from its heartbeat stream
breaking, each node holds one request open to each master (``GET
/nodes/<id>/stream``, ``app.node.stream``), which the master answers with a byte every
``KEEPALIVE`` seconds and watches between bytes. The kernel closes a killed process's
sockets, so the master's wait on the socket returns at once: the master then asks the
node's ``/health`` (``CONFIRM_TIMEOUT``), and if it does not answer, marks it down in the
database, where every worker of every master reads it (a sibling worker of this master
at once, through ``NodeDirectory.note_change``; another master holds a stream of its own).

Why a response stream watched for its peer's close, and not a request body the node
sends: gunicorn's chunked body reader waits for 1 KiB before it returns anything, and
reading the socket is what tells of a close the moment it happens.

What does not mark a node down: a stream that breaks while the node still answers (a
proxy cut it, the node's worker restarted: it reconnects at once); a master stopping
(its worker ends each stream within a second, gracefully: the nodes reconnect to the
new one, and nothing was marked). A node marked down is up again when its stream
reopens, or when it beats (``ClusterStore.heartbeat``) a moment after the mark.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from app.cluster.node_client import NodeClient
from app.metadata.cluster import ClusterStore

log = logging.getLogger(__name__)

# Seconds between the bytes a stream sends (and so between checks of a stopping worker).
KEEPALIVE = 1.0
# Seconds a node whose stream broke has to answer /health before it is marked down.
CONFIRM_TIMEOUT = 1.0
KEEPALIVE_BYTE = b"\n"

# Waits up to that many seconds for the peer of a stream; True if it is gone (closed
# its end, reset it, or sent something: a node sends nothing on its stream).
PeerGone = Callable[[float], bool]


class NodeStreams:
    """Holds the nodes' streams to this master worker, and marks a node down at once
    when its stream breaks and it no longer answers."""

    def __init__(
        self,
        cluster: ClusterStore,
        nodes: NodeClient,
        note_change: Callable[[], None],
        is_stopping: Callable[[], bool],
    ) -> None:
        self.cluster = cluster
        self.nodes = nodes
        self.note_change = note_change
        self.is_stopping = is_stopping

    def hold(self, node_id: str, url: str, peer_gone: PeerGone | None) -> Iterator[bytes]:
        """The body of a node's stream: a byte now, then one every KEEPALIVE seconds
        while the node is there and this worker is not stopping (``peer_gone`` None:
        no socket to watch, the stream ends after its first byte)."""
        self.cluster.stream_opened(node_id, url)
        self.note_change()
        log.debug("stream of node %s at %s open", node_id, url)
        broke = True
        try:
            yield KEEPALIVE_BYTE
            if peer_gone is None:
                broke = False
                return
            while not self.is_stopping():
                if peer_gone(KEEPALIVE):
                    return
                yield KEEPALIVE_BYTE
            broke = False  # this worker stops: the node reconnects to the next one
        finally:
            # Also when the byte could not be sent (the generator is closed then).
            if broke and not self.is_stopping():
                self.confirm_down(node_id, url, time.time())

    def confirm_down(self, node_id: str, url: str, broke_at: float) -> bool:
        """Mark the node down unless it answers /health within CONFIRM_TIMEOUT; True if
        marked."""
        if self.nodes.answers(url, (CONFIRM_TIMEOUT, CONFIRM_TIMEOUT)):
            log.info("stream of node %s at %s broke, but it answers: not down", node_id, url)
            return False
        log.warning("node %s at %s is down: its stream broke and it does not answer", node_id, url)
        self.cluster.mark_down(node_id, broke_at)
        self.note_change()
        return True
