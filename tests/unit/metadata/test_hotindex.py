from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from app.metadata.engine import make_engine, sqlite_url
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.hotindex import HotIndex
from app.metadata.records import FileRecord


def test_index_serves_from_memory_until_another_worker_writes(tmp_path: Path):
    url = sqlite_url(tmp_path / "meta.db")
    # Two engines on one file: what two gunicorn worker processes have.
    worker_a, worker_b = FileCatalogue(make_engine(url)), FileCatalogue(make_engine(url))
    index_b = HotIndex(worker_b, capacity=10)
    worker_a.register(FileRecord("k", "n", 1, ("a",)))
    assert index_b.get("k").replicas == ("a",)
    assert len(index_b) == 1  # cached
    worker_a.register(FileRecord("k", "n", 1, ("b",)))
    assert index_b.get("k").replicas == ("a", "b")
    index_b.close()


def test_index_is_bounded_and_misses_are_not_cached(tmp_path: Path):
    store = FileCatalogue(make_engine(sqlite_url(tmp_path / "meta.db")))
    for i in range(5):
        store.register(FileRecord(f"k{i}", "n", 1))
    index = HotIndex(store, capacity=2)
    for i in range(5):
        assert index.get(f"k{i}").hash == f"k{i}"
    assert len(index) == 2
    assert index.get("absent") is None
    assert len(index) == 2
    index.close()


def test_index_stays_coherent_on_either_backend(engine):
    store = FileCatalogue(engine)
    index = HotIndex(store, capacity=10)
    store.register(FileRecord("k", "n", 1, ("a",)))
    assert index.get("k").replicas == ("a",)
    store.register(FileRecord("k", "n", 1, ("b",)))
    assert index.get("k").replicas == ("a", "b")
    index.close()


def test_heartbeats_leave_the_index_warm_and_replica_changes_clear_it(tmp_path: Path):
    from app.metadata.cluster import ClusterStore

    engine = make_engine(sqlite_url(tmp_path / "meta.db"))
    store, cluster = FileCatalogue(engine), ClusterStore(engine)
    index = HotIndex(store, capacity=10)
    store.register(FileRecord("k", "n", 1, ("a", "b")))
    assert index.get("k").replicas == ("a", "b")
    cluster.heartbeat("a", "http://127.0.0.1:1")
    # Change the row behind the store's back (no version bump): an answer that still
    # shows "b" can only come from memory, so the heartbeat left the index warm.
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM replicas WHERE node = 'b'"))
    assert index.get("k").replicas == ("a", "b")
    cluster.forget_replica("k", "a")  # a real change bumps the version
    assert index.get("k").replicas == ()
    index.close()
