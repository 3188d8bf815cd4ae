"""Which nodes get a file's copies, and which copies go when there are too many."""

from __future__ import annotations

import random
from collections.abc import Sequence

from app.metadata.cluster import NodeRecord


def live_nodes(nodes: Sequence[NodeRecord], now: float, timeout: float) -> list[NodeRecord]:
    """Return the nodes heard from within ``timeout`` seconds and answering, freshest
    first."""
    alive = [node for node in nodes if node.is_serving(now, timeout)]
    return sorted(alive, key=lambda node: node.last_seen, reverse=True)


def choose_nodes(nodes: Sequence[NodeRecord], count: int) -> list[NodeRecord]:
    """Pick up to ``count`` distinct nodes, more often those with more free space.

    Weighted sampling without replacement (Efraimidis-Spirakis): each node draws
    ``u ** (1 / weight)`` and the largest draws win, so a node with twice the free space
    is about twice as likely to be chosen, and no master worker needs shared state to
    spread writes. A node that reported no figures yet weighs as much as an average one.
    """
    if count <= 0 or not nodes:
        return []
    known = [node.stats.free_bytes for node in nodes if node.stats.free_bytes > 0]
    default = sum(known) / len(known) if known else 1.0

    # Normalise weights first: u ** (1/w) underflows for byte-sized weights.
    scale = max(float(n.stats.free_bytes or default) for n in nodes)
    ranked = sorted(
        nodes,
        key=lambda n: random.random() ** (scale / float(n.stats.free_bytes or default)),
        reverse=True,
    )
    return ranked[:count]


def choose_extras(holders: Sequence[NodeRecord], keep: int) -> list[NodeRecord]:
    """Return the copies to trim so that ``keep`` remain: the fullest nodes lose theirs."""
    by_free_space = sorted(holders, key=lambda node: node.stats.free_bytes, reverse=True)
    return by_free_space[keep:]
