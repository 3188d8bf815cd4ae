"""Copies' visibility in the master's catalogue (#17), on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from sqlalchemy import text

from app.metadata.engine import ensure_schema, write_transaction
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.records import Block, FileRecord, HeldCopy
from app.metadata.schema import master_metadata, settings
from app.metadata.settings import SettingStore
from app.metadata.visibility import Visibility

A, B, C, BIG = "aa" * 32, "bb" * 32, "cc" * 32, "ff" * 32


def private_file(store: FileCatalogue, digest: str, nodes: list[str]) -> None:
    store.register(FileRecord(digest, "mine.txt", 4, tuple(nodes), public=False))


def test_a_copy_made_public_stays_public_and_records_show_public_copies_only(engine):
    store = FileCatalogue(engine)
    private_file(store, A, ["n1", "n2"])
    record = store.get(A)
    assert (record.replicas, record.hidden) == (("n1", "n2"), ("n1", "n2"))
    assert record.public_view().replicas == ()
    store.register_copies("n2", [HeldCopy(A, "x", 4, "block")])  # a client sent the bytes
    store.register_blob(A, 4, ["n2"], private=True)  # a private write again: no change
    assert store.blob_copies([A], public_only=True) == {A: ("n2",)}
    assert store.get(A).hidden == ("n1",)
    assert store.get(A).public_view().replicas == ("n2",)


def test_a_private_copy_registered_by_a_node_adds_no_file(engine):
    store = FileCatalogue(engine)
    store.register_copies("n1", [HeldCopy(A, "a.txt", 4, "file", private=True)])
    assert store.get(A) is None and store.list_files() == []
    assert store.blob_copies([A]) == {A: ("n1",)}
    assert store.blob_copies([A], public_only=True) == {A: ()}


def test_is_private_names_content_that_only_signed_urls_read(engine):
    store = FileCatalogue(engine)
    visibility = Visibility(engine)
    private_file(store, A, ["n1"])
    store.register_blob(B, 4, ["n1"], private=True)  # a block of private content
    store.register_blob(C, 4, ["n1"])  # a block a client sent
    assert [visibility.is_private(h) for h in (A, B, C, BIG)] == [True, True, False, False]
    # A private block that became part of a public file is readable through it.
    with write_transaction(engine) as conn:
        store.add_manifest(conn, FileRecord(BIG, "big", 8, block_size=4), [(B, 4), (C, 4)], 1.0)
    assert visibility.is_private(B) is False
    assert visibility.private_copies_on("n1", [A, B, C, BIG]) == sorted([A, B])


def test_an_inventory_keeps_known_visibility_and_hides_new_copies_of_private_content(engine):
    store = FileCatalogue(engine)
    private_file(store, A, ["n1"])
    store.register_blob(B, 4, ["n1"])
    public_report = [HeldCopy(h, h, 4, "file") for h in (A, B, C)]
    store.confirm_inventory("n1", public_report)  # n1's catalogue says public: kept private
    store.confirm_inventory("n2", public_report)  # new copies: A's private, B's and C's not
    hidden = Visibility(engine)
    assert hidden.private_copies_on("n1", [A, B, C]) == [A]
    assert hidden.private_copies_on("n2", [A, B, C]) == [A]
    assert [f.hash for f in store.list_files()] == [C]  # the lost file, from its copy
    store.confirm_inventory("n3", [HeldCopy(BIG, "secret", 4, "file", private=True)])
    assert store.get(BIG) is None  # a private copy the catalogue lost publishes nothing


def test_a_public_commit_replaces_a_private_manifest_cut_otherwise(engine):
    store = FileCatalogue(engine)
    store.register_blob(A, 4, ["n1"], private=True)
    store.register_blob(B, 4, ["n1"], private=True)
    store.register_blob(C, 8, ["n2"])
    now = time.time()
    with write_transaction(engine) as conn:
        store.add_manifest(
            conn, FileRecord(BIG, "x", 8, block_size=4, public=False), [(A, 4), (B, 4)], now
        )
    with write_transaction(engine) as conn:
        store.add_manifest(conn, FileRecord(BIG, "y", 8, block_size=8), [(C, 8)], now)
    record = store.get(BIG)
    assert record.public and record.blocks == (Block(C, 8, 0, ("n2",)),)


def test_an_older_catalogue_marks_the_copies_of_private_content_once(engine):
    store = FileCatalogue(engine)
    private_file(store, A, ["n1"])
    store.register(FileRecord(B, "public.txt", 4, ("n1",)))
    with write_transaction(engine) as conn:
        store.add_blobs(conn, [(C, 4)], ["n2"], 1.0)
        store.add_manifest(conn, FileRecord(BIG, "x", 4, block_size=4, public=False), [(C, 4)], 1.0)
    # As a catalogue from before copies had a visibility: every copy public, no marker.
    with engine.begin() as conn:
        conn.execute(text("UPDATE replicas SET private = false"))
        conn.execute(text("DELETE FROM settings"))
    ensure_schema(master_metadata, engine)
    assert Visibility(engine).private_copies_on("n1", [A, B]) == [A]
    assert Visibility(engine).private_copies_on("n2", [C]) == [C]
    # Once: a copy made public since is not hidden again at the next start.
    store.register_copies("n1", [HeldCopy(A, "a", 4, "block")])
    ensure_schema(master_metadata, engine)
    assert Visibility(engine).private_copies_on("n1", [A]) == []


def test_every_process_on_a_database_reads_the_same_generated_setting(engine):
    ensure_schema(master_metadata, engine)
    first = SettingStore(engine, settings).get_or_create("k", lambda: "one")
    second = SettingStore(engine, settings).get_or_create("k", lambda: "two")
    assert first == second == "one"
    SettingStore(engine, settings).put("k", "three")
    assert SettingStore(engine, settings).get("k") == "three"


def test_a_copy_a_private_write_created_is_private_whatever_a_claim_said(engine):
    store = FileCatalogue(engine)
    # /register needs no bytes: a claim that n1 and n2 hold A, before anyone stored it.
    store.register(FileRecord(A, "claimed.txt", 4, ("n1", "n2")))
    # The master's private write then created n1's copy; n2 already had one (dedup).
    store.register(FileRecord(A, "mine.txt", 4, ("n1", "n2"), public=False), created_on=["n1"])
    assert store.get(A).hidden == ("n1",)
    assert store.get(A).public_view().replicas == ("n2",)


def test_a_copy_a_node_inventories_as_private_is_private(engine):
    store = FileCatalogue(engine)
    store.register_blob(A, 4, ["n1"])  # the catalogue thinks n1's copy public
    store.confirm_inventory("n1", [HeldCopy(A, A, 4, "block", private=True)])
    assert Visibility(engine).private_copies_on("n1", [A]) == [A]
