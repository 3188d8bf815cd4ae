"""Read files through the master: any byte range, block by block, every block checked.

Each block is read whole from a live replica and hashed before a byte of it is sent: a
replica that is down or fails is skipped for the next, and one that serves wrong bytes
is forgotten (and asked to drop them) so that repair replaces it. A private copy (the
per-user API's; ``Block.hidden``) is read with a token. Memory stays bounded: the block
being sent plus ``READ_AHEAD`` fetched in advance.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future

from app.cluster.node_client import CorruptCopy, MissingCopy, NodeClient, NodeUnavailable
from app.errors import ServiceUnavailable
from app.metadata.cluster import ClusterStore
from app.metadata.records import Block, FileRecord, NodeRecord
from app.primitives.context_pool import ContextThreadPool

log = logging.getLogger(__name__)

READ_AHEAD = 2


def discard_copy(
    nodes: NodeClient, cluster: ClusterStore, blob_hash: str, node_id: str, url: str, why: str
) -> None:
    """Forget a corrupt copy and ask its node to drop it, so that it is neither read nor
    counted again; repair makes a new one from another holder."""
    log.error("%s; forgetting that copy", why)
    cluster.forget_replica(blob_hash, node_id)
    with contextlib.suppress(NodeUnavailable):  # else the node's scrub finds it
        nodes.delete_blob(url, blob_hash)


class BlockReader:
    """Fetches verified blocks from the nodes that hold them."""

    def __init__(
        self,
        nodes: NodeClient,
        cluster: ClusterStore,
        live_nodes: Callable[[], list[NodeRecord]],
    ) -> None:
        self.nodes = nodes
        self.cluster = cluster
        self.live_nodes = live_nodes

    def iter_range(self, record: FileRecord, start: int, stop: int) -> Iterator[bytes]:
        """Yield the bytes ``[start, stop)`` of the file, fetching ahead of the sender."""
        wanted = [b for b in record.parts if b.offset < stop and b.offset + b.size > start]
        if not wanted:
            return
        urls = {node.id: node.url for node in self.live_nodes()}
        # Nodes that failed or timed out on a block of this file: tried last for the rest,
        # so that a slow node costs one read timeout per download, not one per block.
        failed: set[str] = set()
        if len(wanted) == 1:  # nothing to fetch ahead of: no pool (a small file's case)
            yield self._slice(wanted[0], self.read_block(wanted[0], urls, failed), start, stop)
            return
        with ContextThreadPool(max_workers=READ_AHEAD, thread_name_prefix="mdbx-read") as pool:
            pending: deque[tuple[Block, Future[bytes]]] = deque()
            queue = iter(wanted)
            try:
                for block in queue:
                    pending.append((block, pool.submit(self.read_block, block, urls, failed)))
                    if len(pending) > READ_AHEAD:
                        yield self._slice(*pending.popleft(), start, stop)
                while pending:
                    yield self._slice(*pending.popleft(), start, stop)
            finally:
                for _block, future in pending:
                    future.cancel()

    def read_all(self, record: FileRecord) -> bytes:
        """The whole file in memory (small files only: Seedream's reference images)."""
        return b"".join(self.iter_range(record, 0, record.size))

    def read_block(
        self, block: Block, urls: dict[str, str], failed: set[str] | None = None
    ) -> bytes:
        """Return one block's bytes from the first live replica that serves them right.

        ``failed`` names nodes to try last, and gets those that fail here."""
        failed = set() if failed is None else failed
        holders = [node for node in block.replicas if node in urls]
        random.shuffle(holders)
        holders.sort(key=lambda node: node in failed)
        for node_id in holders:
            url = urls[node_id]
            try:
                data = self.nodes.fetch_blob(
                    url, block.hash, block.size, signed=node_id in block.hidden
                )
            except CorruptCopy as exc:
                discard_copy(self.nodes, self.cluster, block.hash, node_id, url, str(exc))
                continue
            except MissingCopy as exc:
                if node_id not in block.hidden and self.nodes.has_blob(url, block.hash, block.size):
                    # There, but private: a node answers an unsigned read of a private copy
                    # as if it had none. Recorded so, and not read here: this read went
                    # to copies the catalogue held public (a public read uses no other).
                    log.warning("%s unsigned: its copy is private; recorded so", exc)
                    self.cluster.hide_copy(block.hash, node_id)
                    continue
                # Deleted or lost behind the catalogue's back: forgotten, so that reads go
                # to the other copies and repair makes a new one.
                log.warning("%s; forgetting that copy", exc)
                self.cluster.forget_replica(block.hash, node_id)
                continue
            if data is not None and len(data) == block.size:
                return data
            failed.add(node_id)
        raise ServiceUnavailable(
            f"no live replica could serve block {block.hash}", code="no_live_replica"
        )

    @staticmethod
    def _slice(block: Block, fetched: Future[bytes] | bytes, start: int, stop: int) -> bytes:
        data = fetched if isinstance(fetched, bytes) else fetched.result()
        return data[max(start - block.offset, 0) : min(stop - block.offset, block.size)]
