from __future__ import annotations

import time

from app.metadata.catalogue_version import VERSION_QUERY
from app.metadata.cluster import ClusterStore
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.records import FileRecord, HeldCopy, NodeStats


def test_heartbeats_upsert_nodes_with_their_figures(engine):
    cluster = ClusterStore(engine)
    cluster.heartbeat("8001", "http://127.0.0.1:8001")
    first = cluster.list_nodes()[0]
    assert first.stats == NodeStats()
    time.sleep(0.01)
    cluster.heartbeat("8001", "http://10.0.0.1:8001", NodeStats(100, 60, 40, 3))
    (again,) = cluster.list_nodes()
    assert again.url == "http://10.0.0.1:8001"
    assert again.first_seen == first.first_seen and again.last_seen > first.last_seen
    assert again.stats == NodeStats(100, 60, 40, 3)
    assert again.is_up(time.time(), 15) and not again.is_up(time.time() + 60, 15)
    assert again.to_dict(time.time(), 15)["state"] == "up"


def files_with_copies(engine, **more: tuple[str, ...]) -> tuple[FileCatalogue, ClusterStore]:
    """Files with two, one, three and no copies (on nodes a, b, c), and ``more``."""
    store = FileCatalogue(engine)
    copies = {"two": ("a", "b"), "one": ("a",), "three": ("a", "b", "c"), "none": (), **more}
    for file_hash, replicas in copies.items():
        store.register(FileRecord(file_hash, file_hash[0], 1, replicas))
    return store, ClusterStore(engine)


def test_replication_states_count_counted_and_live_copies(engine):
    store, cluster = files_with_copies(engine)
    states = {s.hash: (s.counted, s.live) for s in cluster.replication_states({"a", "b"}, {"a"})}
    assert states == {"two": (2, 1), "one": (1, 1), "three": (2, 1), "none": (0, 0)}
    needing = cluster.replication_states({"a", "b", "c"}, {"a", "b", "c"}, replication=2)
    assert sorted(s.hash for s in needing) == ["none", "one", "three"]
    cluster.forget_replica("three", "c")
    assert store.get("three").replicas == ("a", "b")


def test_off_target_blobs_come_most_urgent_first_described_and_limited(engine):
    store, cluster = FileCatalogue(engine), ClusterStore(engine)
    store.register(FileRecord("b-one", "one.txt", 1, ("a",)))
    store.register(FileRecord("c-two", "two.txt", 2, ("a", "b")))
    store.register(FileRecord("d-bare", "bare.txt", 4, ()))
    store.register_blob("a-block", 8, ["a"])  # a block of a large file: no name
    store.register(FileRecord("e-three", "three.txt", 16, ("a", "b", "c")))
    store.register_blob("f-bare-block", 32, [])
    live = {"a", "b", "c"}
    # Under-replicated with a copy to copy from, then over-replicated, then copyless.
    states = cluster.replication_states(live, live, replication=2, limit=4)
    assert [(s.hash, s.name, s.size, s.counted, s.live, s.is_file) for s in states] == [
        ("a-block", "", 8, 1, 1, False),
        ("b-one", "one.txt", 1, 1, 1, True),
        ("e-three", "three.txt", 16, 3, 3, True),
        ("d-bare", "bare.txt", 4, 0, 0, True),
    ]
    rest = cluster.replication_states(live, live, replication=2)
    assert [s.hash for s in rest] == ["a-block", "b-one", "e-three", "d-bare", "f-bare-block"]
    # The same order when a node is down and copies are counted one by one.
    store.register(FileRecord("g-on-d", "d.txt", 1, ("a", "d")))
    counted = cluster.replication_states(live | {"d"}, live, replication=2, limit=3)
    assert [(s.hash, s.counted, s.live) for s in counted] == [
        ("a-block", 1, 1),
        ("b-one", 1, 1),
        ("e-three", 3, 3),
    ]
    gone = cluster.replication_states(live, live, replication=2)
    assert [s.hash for s in gone] == [
        *("a-block", "b-one", "g-on-d", "e-three", "d-bare", "f-bare-block")
    ]


def test_copyless_blobs_never_crowd_out_a_blob_that_can_be_repaired(engine):
    store, cluster = FileCatalogue(engine), ClusterStore(engine)
    for i in range(5):
        store.register_blob(f"0-lost-{i}", 1, [])
    store.register(FileRecord("y-two", "two.txt", 1, ("a", "b")))
    store.register(FileRecord("z-one", "one.txt", 1, ("b",)))
    for live in ({"a", "b"}, {"b"}):  # by the copy counts; by the scan (a is not live)
        (first, *_) = cluster.replication_states({"a", "b"}, live, replication=2, limit=2)
        assert first.hash == "z-one"


def test_the_health_summary_counts_blobs_by_the_state_of_their_copies(engine):
    _store, cluster = files_with_copies(engine, gone=("c",))
    # a and b count and a is live; c is down past the grace
    summary = cluster.replication_summary({"a", "b"}, {"a"}, 2)
    assert summary == {
        "blobs": 5,
        "healthy": 0,
        "degraded": 3,  # two, one, three: one live copy each
        "under_replicated": 3,  # one, none, gone
        "over_replicated": 0,
        "unavailable": 2,  # none, gone
        "lost": 2,  # none, gone
    }
    everything_up = cluster.replication_summary({"a", "b", "c"}, {"a", "b", "c"}, 2)
    assert everything_up["healthy"] == 2 and everything_up["over_replicated"] == 1
    assert ClusterStore(engine).replication_summary(set(), set(), 2)["lost"] == 5


def test_deletes_owed_by_a_node_until_it_settles_them(engine):
    cluster = ClusterStore(engine)
    cluster.owe_deletes("h1", ["8001", "8002"])
    cluster.owe_deletes("h2", ["8001"])
    cluster.owe_deletes("h2", ["8001"])  # idempotent
    assert cluster.deletes_owed_by("8001") == ["h1", "h2"]
    cluster.settle_deletes("8001", ["h1"])
    assert cluster.deletes_owed_by("8001") == ["h2"]
    assert cluster.deletes_owed_by("8002") == ["h1"]


def test_registering_deleted_content_again_cancels_the_deletes_owed(engine):
    store, cluster = FileCatalogue(engine), ClusterStore(engine)
    store.register(FileRecord("h1", "a", 1, ("8001", "8002")))
    store.register(FileRecord("h2", "b", 1, ("8002",)))
    for digest in ("h1", "h2"):
        store.delete_file(digest)
        cluster.owe_deletes(digest, ["8002"])  # 8002 was away
    store.register(FileRecord("h1", "a", 1, ("8001",)))
    # 8002's copy of h1 is wanted again: dropping it would leave the master counting it.
    assert cluster.deletes_owed_by("8002") == ["h2"]
    assert store.confirm_inventory("8002", [HeldCopy("h1", "a", 1)]) == []
    assert store.get("h1").replicas == ("8001", "8002")


def test_a_node_marked_unresponsive_is_not_served_yet_counts_until_the_grace(engine):
    cluster = ClusterStore(engine)
    cluster.heartbeat("8001", "http://127.0.0.1:8001")
    stopped_at = time.time()
    cluster.mark_unresponsive("8001", stopped_at)
    (node,) = cluster.list_nodes()
    now = time.time()
    assert node.unresponsive_since == stopped_at
    assert (
        node.state(now, 15) == "unresponsive" and node.to_dict(now, 15)["state"] == "unresponsive"
    )
    assert not node.is_serving(now, 15)
    # Its copies count as long as a node's that went down when it stopped answering.
    assert node.is_up(now, 15) and not node.is_up(stopped_at + 16, 15)
    cluster.heartbeat("8001", "http://127.0.0.1:8001")  # beats alone do not clear it
    assert cluster.list_nodes()[0].state(time.time(), 15) == "unresponsive"
    cluster.mark_unresponsive("8001", 0.0)
    (node,) = cluster.list_nodes()
    assert node.state(time.time(), 15) == "up" and node.is_serving(time.time(), 15)
    assert node.state(time.time() + 60, 15) == "down"


def test_forget_copies_answers_what_was_there_and_moves_the_version_only_then(engine):
    store, cluster = files_with_copies(engine)
    with store.engine.connect() as conn:
        version = conn.exec_driver_sql(VERSION_QUERY).scalar()
    assert cluster.forget_copies("a", ["never-here", "unknown"]) == []
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql(VERSION_QUERY).scalar() == version
    assert cluster.forget_copies("a", ["one", "two", "never-here"]) == ["one", "two"]
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql(VERSION_QUERY).scalar() > version
    assert store.get("one").replicas == () and store.get("two").replicas == ("b",)


def test_new_copies_are_neither_placed_on_the_node_nor_deleted(engine):
    store, cluster = files_with_copies(engine)
    store.register(FileRecord("gone", "g", 1, ()))
    store.delete_file("gone")  # tombstoned
    assert cluster.new_copies("b", ["one", "two", "gone", "fresh"]) == {"one", "fresh"}
