"""Placement by free space (#17): a full node is not chosen while others have room, and
a node that has not reported its disk is an average node, not a full one."""

from __future__ import annotations

import random
from collections import Counter

from app.master.placement import choose_nodes, has_figures, is_full
from app.master.writer import ReplicatedWriter
from app.metadata.records import NodeRecord, NodeStats

GIB = 1 << 30
DRAWS = 3000


def node(node_id: str, free: int | None) -> NodeRecord:
    """A node with ``free`` bytes of a 100 GiB disk; None: no figures reported yet."""
    stats = NodeStats() if free is None else NodeStats(100 * GIB, free, 0, 0)
    return NodeRecord(node_id, f"http://{node_id}", 0.0, 0.0, stats)


def chosen(nodes: list[NodeRecord], count: int, draws: int = DRAWS) -> Counter[str]:
    random.seed(17)
    return Counter(n.id for _ in range(draws) for n in choose_nodes(nodes, count))


def test_a_full_node_is_never_chosen_while_enough_others_have_room():
    nodes = [node("full", 0), node("a", 10 * GIB), node("b", GIB), node("new", None)]
    assert is_full(nodes[0]) and not is_full(nodes[3]) and not has_figures(nodes[3])
    counts = chosen(nodes, 2)
    assert counts["full"] == 0
    assert sum(counts.values()) == 2 * DRAWS
    assert chosen(nodes, 3)["full"] == 0


def test_a_node_without_figures_weighs_as_an_average_node():
    nodes = [node("a", 30 * GIB), node("b", 10 * GIB), node("new", None), node("full", 0)]
    counts = chosen(nodes, 1)
    # Weights 30, 10, 20 (the average of those with room), 0: the new node gets a third.
    assert 0.28 < counts["new"] / DRAWS < 0.39
    assert counts["a"] > counts["new"] > counts["b"] > 0 and counts["full"] == 0


def test_full_nodes_are_the_last_resort_and_the_last_spares():
    full = [node("f1", 0), node("f2", 0)]
    roomy = node("a", GIB)
    # Only full nodes: they are tried (their refusal, 507, says what is wrong).
    assert {n.id for n in choose_nodes(full, 2)} == {"f1", "f2"}
    for _ in range(50):
        ranked = ReplicatedWriter.rank_nodes([*full, roomy])
        assert ranked[0] is roomy and {n.id for n in ranked[1:]} == {"f1", "f2"}
        assert [n.id for n in choose_nodes([full[0], roomy], 2)] == ["a", "f1"]
