"""Manifests, uploads in progress and garbage collection, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from app.errors import UploadNotFound
from app.metadata.cluster import ClusterStore
from app.metadata.engine import write_transaction
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.records import Block, FileRecord, HeldCopy, PurgedBlob
from app.metadata.uploads import UploadStore

A, B, C, BIG = "aa" * 32, "bb" * 32, "cc" * 32, "ff" * 32


def manifest(store: FileCatalogue, file_hash: str, blocks: list[tuple[str, int]]) -> None:
    record = FileRecord(file_hash, "big.bin", sum(s for _h, s in blocks), block_size=4)
    with write_transaction(store.engine) as conn:
        store.add_manifest(conn, record, blocks, time.time())


def test_a_manifest_lists_its_blocks_with_offsets_and_copies(engine):
    store = FileCatalogue(engine)
    store.register_blob(A, 4, ["n1", "n2"])
    store.register_blob(B, 2, ["n2"])
    manifest(store, BIG, [(A, 4), (A, 4), (B, 2)])
    record = store.get(BIG)
    assert record.blocks == (
        Block(A, 4, 0, ("n1", "n2")),
        Block(A, 4, 4, ("n1", "n2")),
        Block(B, 2, 8, ("n2",)),
    )
    assert record.replicas == ("n1", "n2") and record.size == 10
    assert record.to_dict()["blocks"] == 3
    # Blocks are not files of their own; the manifest is listed with its holders.
    assert [(f.hash, f.replicas) for f in store.list_files()] == [(BIG, ("n1", "n2"))]


def test_deleting_a_file_purges_only_blocks_no_other_file_needs(engine):
    store = FileCatalogue(engine)
    store.register_blob(A, 4, ["n1"])
    store.register_blob(B, 2, ["n1", "n2"])
    store.register_blob(C, 2, ["n2"])
    manifest(store, BIG, [(A, 4), (B, 2)])
    manifest(store, "ee" * 32, [(A, 4), (C, 2)])
    _record, purged = store.delete_file(BIG)
    assert purged == [PurgedBlob(B, ("n1", "n2"))]
    assert set(store.blob_copies([A, B, C])) == {A, C}
    # The purged block is tombstoned: a node reporting it is told to drop it.
    assert store.confirm_inventory("n1", [HeldCopy(B, "", 2, "block")]) == [B]


def test_an_inventory_never_turns_blocks_into_files(engine):
    store = FileCatalogue(engine)
    store.register_blob(A, 4, ["n1"])
    store.confirm_inventory("n2", [HeldCopy(A, A, 4, "file"), HeldCopy(B, B, 2, "block")])
    assert store.list_files() == []
    assert store.blob_copies([A, B]) == {A: ("n1", "n2"), B: ("n2",)}


def test_an_upload_commits_into_a_file_and_its_references_move_with_it(engine):
    store = FileCatalogue(engine)
    uploads = UploadStore(store)
    upload = uploads.begin("big.bin", 6, BIG, 4, [(A, 4), (B, 2)], ttl=60)
    assert uploads.get(upload.id).blocks == ((A, 4), (B, 2))
    store.register_blob(A, 4, ["n1"])
    store.register_blob(B, 2, ["n1"])
    # While the upload is open its blocks are referenced: nothing is collectable.
    assert store.collect_garbage(time.time() + 1, 100) == []
    record = uploads.commit(upload)
    assert [b.hash for b in record.blocks] == [A, B] and record.name == "big.bin"
    with pytest.raises(UploadNotFound):
        uploads.get(upload.id)
    assert store.collect_garbage(time.time() + 1, 100) == []


def test_abandoned_uploads_expire_and_their_blocks_are_collected_after_the_grace(engine):
    store = FileCatalogue(engine)
    cluster = ClusterStore(engine)
    uploads = UploadStore(store)
    upload = uploads.begin("x", 6, BIG, 4, [(A, 4), (B, 2)], ttl=0.05)
    store.register_blob(A, 4, ["n1"])
    time.sleep(0.1)
    with pytest.raises(UploadNotFound):
        uploads.get(upload.id)
    assert uploads.expire() == 1
    # Within the grace period the orphan stays; after it, it goes.
    assert store.collect_garbage(time.time() - 60, 100) == []
    assert store.collect_garbage(time.time() + 1, 100) == [PurgedBlob(A, ("n1",))]
    assert cluster.replication_states({"n1"}, {"n1"}) == []


def test_an_aborted_uploads_blocks_go_at_once_unless_another_upload_took_them(engine):
    store = FileCatalogue(engine)
    uploads = UploadStore(store)
    mine = uploads.begin("", 0, "", 4, (), ttl=60)
    uploads.add_block(mine.id, 0, A, 4)
    uploads.add_block(mine.id, 1, B, 4)
    store.register_blob(A, 4, ["n1"])
    store.register_blob(B, 4, ["n1"])
    theirs = uploads.begin("", 0, "", 4, (), ttl=60)
    assert uploads.add_block(theirs.id, 0, B, 4) is True  # B taken by another upload
    uploads.abort(mine.id)
    # What BlockIngest.abort asks: only among the blocks it wrote, cut off now.
    assert store.collect_garbage(time.time(), 10, hashes=[A, B]) == [PurgedBlob(A, ("n1",))]
    assert store.blob_copies([A, B]) == {B: ("n1",)}


def test_a_new_upload_takes_a_reference_on_blocks_that_exist(engine):
    store = FileCatalogue(engine)
    uploads = UploadStore(store)
    store.register_blob(A, 4, ["n1"])
    cutoff = time.time() + 1
    uploads.begin("x", 4, A, 4, [(A, 4)], ttl=60)
    assert store.collect_garbage(cutoff, 100) == []


def test_rename_and_abort(engine):
    store = FileCatalogue(engine)
    uploads = UploadStore(store)
    store.register(FileRecord(A, "old", 4, ("n1",)))
    assert store.rename(A, "new").name == "new"
    assert store.rename("unknown", "x") is None
    upload = uploads.begin("x", 4, B, 4, [(B, 4)], ttl=60)
    uploads.abort(upload.id)
    with pytest.raises(UploadNotFound):
        uploads.abort(upload.id)
