"""Which nodes get a file's copies, and which copies go when there are too many."""

from __future__ import annotations

import random
from collections.abc import Sequence

from app.metadata.records import NodeRecord


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
    A full node (it reported its disk, with nothing free) comes after every other: it is
    chosen only when ``count`` leaves no other, as a spare or a last resort whose refusal
    (507) says what is wrong.
    """
    if count <= 0 or not nodes:
        return []
    full = [node for node in nodes if is_full(node)]
    with_room = [node for node in nodes if not is_full(node)]
    known = [node.stats.free_bytes for node in with_room if has_figures(node)]
    default = sum(known) / len(known) if known else 1.0

    def weight(node: NodeRecord) -> float:
        return float(node.stats.free_bytes) if has_figures(node) else default

    # Normalise weights first: u ** (1/w) underflows for byte-sized weights.
    scale = max((weight(n) for n in with_room), default=1.0)
    ranked = sorted(with_room, key=lambda n: random.random() ** (scale / weight(n)), reverse=True)
    return (ranked + random.sample(full, len(full)))[:count]


def has_figures(node: NodeRecord) -> bool:
    """Tell whether the node has reported its disk: a heartbeat's capacity is never 0,
    while a node known only from a registration or an inventory has no figures."""
    return node.stats.capacity_bytes > 0


def is_full(node: NodeRecord) -> bool:
    """Tell whether the node reported a disk with no free space (unknown is not full)."""
    return has_figures(node) and node.stats.free_bytes <= 0


def choose_extras(holders: Sequence[NodeRecord], keep: int) -> list[NodeRecord]:
    """Return the copies to trim so that ``keep`` remain: the fullest nodes lose theirs."""
    by_free_space = sorted(holders, key=lambda node: node.stats.free_bytes, reverse=True)
    return by_free_space[keep:]
