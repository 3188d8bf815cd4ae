"""Write a blob to R live nodes in parallel and count the durable copies."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from app.cluster.blob_batches import MAX_BATCH_BLOB_BYTES, MAX_BATCH_BLOBS
from app.cluster.node_client import NodeClient, NodeUnavailable
from app.errors import AppError, ServiceUnavailable
from app.master.placement import choose_nodes
from app.metadata.records import NodeRecord
from app.primitives.context_pool import ContextThreadPool

log = logging.getLogger(__name__)

# Opens a fresh reader of the blob's bytes: each target streams its own copy.
Source = Callable[[], bytes | IO[bytes]]


class InsufficientReplicas(ServiceUnavailable):
    code = "insufficient_replicas"


@dataclass(frozen=True)
class WriteResult:
    stored_on: tuple[str, ...]
    wanted: int
    quorum: int
    # Those of ``stored_on`` that had no copy before: theirs is exactly as written.
    created_on: tuple[str, ...] = ()


class ReplicatedWriter:
    """Places copies on nodes chosen by free space; spares stand in for failures."""

    def __init__(self, nodes: NodeClient, *, replication: int, write_quorum: int) -> None:
        self.nodes = nodes
        self.replication = replication
        # 0 means "all R copies": the answer comes only when every copy is durable.
        self.quorum = min(write_quorum or replication, replication)

    def write(
        self,
        live: list[NodeRecord],
        source: Source,
        digest: str,
        name: str,
        kind: str = "file",
        *,
        ranked: bool = False,
        private: bool = False,
        quorum: int | None = None,
    ) -> WriteResult:
        """Store the blob on up to R of ``live``; raise InsufficientReplicas below quorum.

        The nodes are chosen by free space, or with ``ranked`` taken in the order given
        (``rank_nodes``: the blocks of one file go to the same nodes). ``private``
        copies are served only through signed URLs (content of the per-user API).
        ``quorum``: the copies that must be durable, instead of WRITE_QUORUM's.
        """
        if not live:
            raise ServiceUnavailable("no storage node is available", code="no_live_nodes")
        order = live if ranked else self.rank_nodes(live)
        targets, spares = order[: self.replication], order[self.replication :]
        with ContextThreadPool(max_workers=len(targets)) as pool:
            outcomes = list(
                pool.map(lambda node: self._put(node, source, digest, name, kind, private), targets)
            )
        answers = [(node, reply) for node, reply in zip(targets, outcomes, strict=True) if reply]
        for spare in spares:
            if len(answers) >= len(targets):
                break
            if reply := self._put(spare, source, digest, name, kind, private):
                answers.append((spare, reply))
        stored = [node.id for node, _reply in answers]
        created = tuple(node.id for node, reply in answers if reply.get("deduplicated") is False)
        wanted = self.replication
        needed = self.quorum if quorum is None else min(quorum, self.quorum)
        if len(stored) < needed:
            raise InsufficientReplicas(
                f"only {len(stored)} of {needed} required copies could be written",
                details={"copies": len(stored), "quorum": needed},
            )
        return WriteResult(tuple(stored), wanted, needed, created)

    def write_many(
        self,
        live: list[NodeRecord],
        blobs: Sequence[tuple[str, str, bytes]],
        *,
        kind: str = "file",
        private: bool = False,
    ) -> list[WriteResult | AppError]:
        """Store many small (digest, name, bytes), each on up to R of ``live``: one ``POST
        /blobs`` per node (its blobs durable with one sync), to the R nodes at once.

        What a node did not store goes to the spares. A result per blob, in order: a
        blob with fewer copies than the quorum is its InsufficientReplicas (the others
        are stored all the same).
        """
        if not live:
            raise ServiceUnavailable("no storage node is available", code="no_live_nodes")
        order = self.rank_nodes(live)
        targets, spares = order[: self.replication], order[self.replication :]
        everything = list(range(len(blobs)))
        with ContextThreadPool(max_workers=len(targets)) as pool:
            replies = list(
                pool.map(
                    lambda node: self._put_many(node, blobs, everything, kind, private), targets
                )
            )
        stored: list[list[str]] = [[] for _ in blobs]
        created: list[list[str]] = [[] for _ in blobs]
        for node, reply in zip(targets, replies, strict=True):
            self._count(node, reply, stored, created)
        for spare in spares:
            short = [i for i in everything if len(stored[i]) < len(targets)]
            if not short:
                break
            self._count(spare, self._put_many(spare, blobs, short, kind, private), stored, created)
        results: list[WriteResult | AppError] = []
        for on, new in zip(stored, created, strict=True):
            if len(on) < self.quorum:
                results.append(
                    InsufficientReplicas(
                        f"only {len(on)} of {self.quorum} required copies could be written",
                        details={"copies": len(on), "quorum": self.quorum},
                    )
                )
            else:
                results.append(WriteResult(tuple(on), self.replication, self.quorum, tuple(new)))
        return results

    @staticmethod
    def _count(
        node: NodeRecord,
        reply: dict[int, dict[str, Any]],
        stored: list[list[str]],
        created: list[list[str]],
    ) -> None:
        for index, answer in reply.items():
            stored[index].append(node.id)
            if answer.get("deduplicated") is False:
                created[index].append(node.id)

    def _put_many(
        self,
        node: NodeRecord,
        blobs: Sequence[tuple[str, str, bytes]],
        indexes: list[int],
        kind: str,
        private: bool,
    ) -> dict[int, dict[str, Any]]:
        """The node's answer for each of ``indexes`` it stored (a node that failed, logged,
        stored none), in requests of at most MAX_BATCH_BLOBS and MAX_BATCH_BLOB_BYTES."""
        done: dict[int, dict[str, Any]] = {}
        for group in _requests(blobs, indexes):
            try:
                answers = self.nodes.put_blobs(
                    node.url, [blobs[i] for i in group], kind=kind, private=private
                )
            except NodeUnavailable as exc:
                log.warning("%d copies not stored on %s: %s", len(group), node.id, exc.message)
                continue
            for index, answer in zip(group, answers, strict=True):
                if "error" in answer:
                    log.warning("copy of %s refused by %s: %s", blobs[index][0], node.id, answer)
                else:
                    done[index] = answer
        return done

    @staticmethod
    def rank_nodes(live: list[NodeRecord]) -> list[NodeRecord]:
        """Every live node, in the order copies go to them: the first R, then spares."""
        return choose_nodes(live, len(live))

    def _put(
        self, node: NodeRecord, source: Source, digest: str, name: str, kind: str, private: bool
    ) -> dict[str, Any] | None:
        """The node's answer, or None (logged) when it stored no copy."""
        body = source()
        try:
            return self.nodes.put_blob(
                node.url, name, body, digest, register=False, kind=kind, private=private
            )
        except NodeUnavailable as exc:
            log.warning("copy of %s not stored on %s: %s", digest, node.id, exc.message)
            return None
        finally:
            if not isinstance(body, bytes):
                body.close()


def _requests(blobs: Sequence[tuple[str, str, bytes]], indexes: list[int]) -> list[list[int]]:
    """``indexes`` cut into the groups of one ``POST /blobs`` each."""
    groups: list[list[int]] = []
    size = 0
    for index in indexes:
        length = len(blobs[index][2])
        if not groups or len(groups[-1]) >= MAX_BATCH_BLOBS or size + length > MAX_BATCH_BLOB_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(index)
        size += length
    return groups
