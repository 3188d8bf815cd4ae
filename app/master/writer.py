"""Write a blob to R live nodes in parallel and count the durable copies."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from app.cluster.node_client import NodeClient, NodeUnavailable
from app.errors import ServiceUnavailable
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
