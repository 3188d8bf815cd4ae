from __future__ import annotations

import time

from app.metadata.file_catalogue import FileCatalogue
from app.metadata.records import FileRecord, HeldCopy, PurgedBlob

DIGEST = "ab" * 32


def test_register_get_and_merge_replicas(engine):
    store = FileCatalogue(engine)
    assert store.get("missing") is None
    first = store.register(FileRecord("test123", "test.txt", 1024, ("8001",)))
    assert first == FileRecord("test123", "test.txt", 1024, ("8001",))
    merged = store.register(FileRecord("test123", "renamed.txt", 1024, ("8002", "8001")))
    assert merged == FileRecord("test123", "renamed.txt", 1024, ("8001", "8002"))
    assert store.get("test123") == merged


def test_list_files_in_registration_order_with_replicas(engine):
    store = FileCatalogue(engine)
    store.register(FileRecord("b", "b", 1, ("n2",)))
    store.register(FileRecord("a", "a", 2, ()))
    assert store.list_files() == [FileRecord("b", "b", 1, ("n2",)), FileRecord("a", "a", 2, ())]
    assert store.count_files() == 2


def test_inventory_creates_unknown_files_and_keeps_known_names(engine):
    store = FileCatalogue(engine)
    store.register(FileRecord(DIGEST, "latest.txt", 7, ()))
    store.confirm_inventory("8001", [HeldCopy(DIGEST, "first.txt", 7), HeldCopy("new", "n", 3)])
    assert store.get(DIGEST) == FileRecord(DIGEST, "latest.txt", 7, ("8001",))
    assert store.get("new") == FileRecord("new", "n", 3, ("8001",))


def test_prune_forgets_only_unconfirmed_copies_of_that_node(engine):
    store = FileCatalogue(engine)
    store.register(FileRecord("old", "o", 1, ("8001", "8002")))
    started = time.time()
    time.sleep(0.01)
    store.confirm_inventory("8001", [HeldCopy("kept", "k", 1)])
    assert store.prune_replicas("8001", started) == 1
    assert store.get("old").replicas == ("8002",)
    assert store.get("kept").replicas == ("8001",)


def test_two_stores_on_one_database_share_state(engine):
    """What two gunicorn workers (or two masters on PostgreSQL) see."""
    one, two = FileCatalogue(engine), FileCatalogue(engine)
    one.register(FileRecord("k", "n", 1, ("a",)))
    two.register(FileRecord("k", "n", 1, ("b",)))
    assert one.get("k").replicas == ("a", "b")


def test_delete_leaves_a_tombstone_that_inventories_respect(engine):
    store = FileCatalogue(engine)
    store.register(FileRecord(DIGEST, "a", 1, ("8001", "8002")))
    record, purged = store.delete_file(DIGEST)
    assert record.replicas == ("8001", "8002")
    assert purged == [PurgedBlob(DIGEST, ("8001", "8002"))]
    assert store.get(DIGEST) is None
    assert store.delete_file(DIGEST) is None
    # A node that was away reports the deleted file: it is told to drop it.
    assert store.confirm_inventory("8002", [HeldCopy(DIGEST, "a", 1)]) == [DIGEST]
    assert store.get(DIGEST) is None
    # Uploading the same content again brings it back.
    store.register(FileRecord(DIGEST, "again", 1, ("8001",)))
    assert store.confirm_inventory("8002", [HeldCopy(DIGEST, "a", 1)]) == []
    assert store.get(DIGEST).replicas == ("8001", "8002")
