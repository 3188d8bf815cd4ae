"""Which nodes get a new file's copies."""

from __future__ import annotations

import random
from collections.abc import Sequence

from app.metadata.repository import NodeRecord


def live_nodes(nodes: Sequence[NodeRecord], now: float, timeout: float) -> list[NodeRecord]:
    """Return the nodes heard from within ``timeout`` seconds, freshest first."""
    alive = [node for node in nodes if now - node.last_seen <= timeout]
    return sorted(alive, key=lambda node: node.last_seen, reverse=True)


def choose_nodes(nodes: Sequence[NodeRecord], count: int) -> list[NodeRecord]:
    """Pick up to ``count`` distinct nodes, spreading load across calls.

    A random order spreads writes without shared state between master workers; #4
    weighs free space and load once heartbeats carry them.
    """
    return random.sample(list(nodes), min(count, len(nodes)))
