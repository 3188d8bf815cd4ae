"""``blobs.copies``: kept by the database's triggers, and read by the repairer."""

from __future__ import annotations

import random
import threading
import time

from sqlalchemy import Engine, select

from app.metadata.catalogue_schema import blobs, replicas
from app.metadata.cluster import ClusterStore
from app.metadata.engine import write_transaction
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.records import FileRecord, HeldCopy


def copies(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {h: n for h, n in conn.execute(select(blobs.c.hash, blobs.c.copies))}


def test_copies_follow_every_way_a_copy_comes_and_goes(engine):
    store, cluster = FileCatalogue(engine), ClusterStore(engine)
    store.register(FileRecord("f", "f.txt", 1, ("a", "b")))
    store.register_blob("bare", 1, [])
    assert copies(engine) == {"f": 2, "bare": 0}
    store.register(FileRecord("f", "f.txt", 1, ("a", "b")))  # confirmed again: no new copy
    store.register_copies("c", [HeldCopy("f", "f.txt", 1)])
    store.register_blob("bare", 1, ["a"])
    assert copies(engine) == {"f": 3, "bare": 1}
    cluster.forget_replica("f", "a")
    assert copies(engine) == {"f": 2, "bare": 1}
    time.sleep(0.01)
    confirming = time.time()
    store.register_copies("b", [HeldCopy("f", "f.txt", 1)])  # b confirms f again
    assert store.prune_replicas("a", time.time()) == 1  # a's copy of "bare"
    assert store.prune_replicas("b", confirming) == 0
    assert copies(engine) == {"f": 2, "bare": 0}
    store.delete_file("f")  # the blob goes, and its copies with it
    assert copies(engine) == {"bare": 0}


def test_a_catalogue_from_before_the_counts_is_counted_when_the_master_starts(engine):
    FileCatalogue(engine).register(FileRecord("f", "f.txt", 1, ("a", "b")))
    with write_transaction(engine) as conn:  # as a release without the counts left it
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER replicas_counted_in")
            conn.exec_driver_sql("DROP TRIGGER replicas_counted_out")
            conn.exec_driver_sql("DROP INDEX ix_blobs_copies")
        else:
            conn.exec_driver_sql("DROP TRIGGER replicas_counted ON replicas")
        conn.exec_driver_sql("ALTER TABLE blobs DROP COLUMN copies")
        conn.execute(replicas.insert().values(hash="f", node="c", confirmed_at=time.time()))
    store = FileCatalogue(engine)
    assert copies(engine) == {"f": 3}
    store.register(FileRecord("g", "g.txt", 1, ("a",)))
    ClusterStore(engine).forget_replica("f", "c")
    assert copies(engine) == {"f": 2, "g": 1}


def test_the_counts_choose_what_the_scan_of_every_copy_would(engine):
    store, cluster = FileCatalogue(engine), ClusterStore(engine)
    rng = random.Random(7)
    nodes = ["a", "b", "c", "d"]
    held = {f"{i:03d}": rng.sample(nodes, rng.choice([0, 1, 1, 2, 2, 2, 3, 4])) for i in range(80)}
    for blob_hash, holders in held.items():
        store.register_blob(blob_hash, 1, holders)
    everyone = set(nodes)

    def expected(replication: int, limit: int) -> list[tuple[str, int]]:
        def urgency(n: int) -> int:
            return 2 if n == 0 else 0 if n < replication else 1

        off = [(h, len(n)) for h, n in held.items() if len(n) != replication]
        if replication == 0:
            off = [(h, n) for h, n in off if n > 0]
        off.sort(key=lambda item: (urgency(item[1]), item[1], item[0]))
        return off[:limit]

    for replication, limit in ((2, 10), (2, 500), (1, 7), (3, 40), (0, 5)):
        by_counts = cluster.replication_states(everyone, everyone, replication, limit)
        assert [(s.hash, s.counted) for s in by_counts] == expected(replication, limit)
        assert all(s.live == s.counted for s in by_counts)
        with engine.connect() as conn:  # what a pass with a node down would have run
            by_scan = cluster._counted_by_scan(conn, everyone, everyone, replication, limit)
        assert list(by_scan.items()) == [(s.hash, (s.counted, s.live)) for s in by_counts]
        # Nodes down within the repair grace: they count, but their copies are not live.
        for down in ({"a"}, {"b", "d"}, set(nodes)):
            up = everyone - down
            by_counts = cluster.replication_states(everyone, up, replication, limit)
            with engine.connect() as conn:
                by_scan = cluster._counted_by_scan(conn, everyone, up, replication, limit)
            assert list(by_scan.items()) == [(s.hash, (s.counted, s.live)) for s in by_counts]


def test_masters_starting_together_on_an_old_catalogue_count_it_once(engine):
    FileCatalogue(engine).register(FileRecord("f", "f.txt", 1, ("a", "b")))
    with write_transaction(engine) as conn:  # the counts' triggers not installed yet
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER replicas_counted_in")
            conn.exec_driver_sql("DROP TRIGGER replicas_counted_out")
        else:
            conn.exec_driver_sql("DROP TRIGGER replicas_counted ON replicas")
        conn.exec_driver_sql("UPDATE blobs SET copies = 0")
    errors: list[BaseException] = []

    def start() -> None:
        try:
            FileCatalogue(engine)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    starts = [threading.Thread(target=start) for _ in range(4)]
    for thread in starts:
        thread.start()
    for thread in starts:
        thread.join(timeout=60)
    assert errors == []
    store = FileCatalogue(engine)
    store.register(FileRecord("g", "g.txt", 1, ("a",)))
    assert copies(engine) == {"f": 2, "g": 1}  # counted once, then kept by one trigger each
