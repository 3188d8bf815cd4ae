from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from app.metadata.engine import make_engine, sqlite_url
from app.metadata.node_catalogue import BlobEntry, NodeCatalogue
from tests.support.full_disk import LONG_NAME, create_with_small_pages, no_room

A, B, C = "a" * 64, "b" * 64, "c" * 64


def catalog(tmp_path: Path) -> NodeCatalogue:
    return NodeCatalogue(make_engine(sqlite_url(tmp_path / "catalog.db"), synchronous="NORMAL"))


def test_record_keeps_the_first_name(tmp_path: Path):
    cat = catalog(tmp_path)
    assert cat.record(A, "first.txt", 3).name == "first.txt"
    assert cat.record(A, "second.txt", 3).name == "first.txt"
    assert cat.get(A).size == 3 and cat.get(B) is None


def test_pending_until_marked_registered(tmp_path: Path):
    cat = catalog(tmp_path)
    cat.record(A, "a", 1)
    cat.record(B, "b", 2)
    assert [e.hash for e in cat.pending(10)] == [A, B]
    cat.mark_registered([A])
    assert [e.hash for e in cat.pending(10)] == [B]
    stats = cat.stats()
    assert (stats.blobs, stats.bytes, stats.unregistered) == (2, 3, 1)


def test_iter_batches_pages_through_everything(tmp_path: Path):
    cat = catalog(tmp_path)
    digests = [f"{i:064x}" for i in range(7)]
    for digest in digests:
        cat.record(digest, "n", 1)
    batches = list(cat.iter_batches(3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [e.hash for batch in batches for e in batch] == digests


def test_reconcile_makes_the_catalogue_match_the_disk(tmp_path: Path):
    cat = catalog(tmp_path)
    cat.record(A, "kept.txt", 1)
    cat.record(B, "lost.txt", 2)
    assert cat.reconcile([(A, 1), (C, 3)]) == (1, 1)
    assert cat.get(B) is None
    assert cat.get(C).name == C and cat.get(C).registered is False
    assert cat.get(A).name == "kept.txt"


def test_record_many_is_one_batch_with_each_blobs_entry(tmp_path: Path):
    cat = catalog(tmp_path)
    cat.record(A, "first.txt", 3)
    entries = cat.record_many(
        [(A, "again.txt", 3, "file"), (B, "", 4, "block"), (B, "dup", 4, "block")]
    )
    assert [(e.hash, e.name, e.kind) for e in entries] == [
        (A, "first.txt", "file"),
        (B, "", "block"),
        (B, "", "block"),
    ]
    assert cat.stats().blobs == 2


def test_record_many_records_acknowledgement_and_never_takes_it_back(tmp_path: Path):
    cat = catalog(tmp_path)
    cat.record_many([(A, "a", 1, "file"), (B, "b", 2, "file")], registered=[A])
    assert (cat.get(A).registered, cat.get(B).registered) == (True, False)
    # Stored again: B's registration now succeeded, A's failed (the master knew A already).
    cat.record_many([(A, "again", 1, "file"), (B, "again", 2, "file")], registered=[B])
    assert (cat.get(A).registered, cat.get(B).registered) == (True, True)
    assert (cat.get(A).name, cat.get(B).name) == ("a", "b")
    assert cat.stats().unregistered == 0


def test_names_are_cached_by_reads_not_by_uploads(tmp_path: Path):
    cat = NodeCatalogue(make_engine(sqlite_url(tmp_path / "c.db")), name_cache_size=2)
    cat.record_many([(A, "a.txt", 1, "file"), (B, "b.txt", 1, "file")])
    assert len(cat._names) == 0  # a stream of uploads leaves memory as it was
    assert cat.name_of(A) == "a.txt"
    assert len(cat._names) == 1
    cat.record(C, "c.txt", 1)
    assert [cat.name_of(digest) for digest in (A, B, C)] == ["a.txt", "b.txt", "c.txt"]
    assert len(cat._names) == 2  # bounded


def test_rows_of_durable_blobs_wait_out_a_full_disk(tmp_path: Path):
    create_with_small_pages(tmp_path / "catalog.db")
    cat = catalog(tmp_path)
    cat.record(A, "first.txt", 3)
    with no_room(cat.engine):
        # record_many fails as SQLite does on a full disk; record_durable does not.
        with pytest.raises(sqlite3.OperationalError, match="full"):
            cat.record_many([(B, LONG_NAME, 4, "file")])
        entries = cat.record_durable(
            [(A, LONG_NAME, 3, "file"), (B, LONG_NAME, 4, "block")], registered=[B]
        )
        assert [(e.hash, e.name, e.kind, e.registered) for e in entries] == [
            (A, "first.txt", "file", False),  # the row it has keeps its first name
            (B, LONG_NAME, "block", True),
        ]
        assert cat.get(B) is None  # not written
    # The next write catches up with the deferred rows first.
    (entry,) = cat.record_durable([(C, "c.txt", 5, "file")])
    assert entry.name == "c.txt"
    assert cat.get(B) == BlobEntry(B, LONG_NAME, 4, True, "block")
    assert cat.stats().blobs == 3


def test_only_a_refusing_disk_defers_rows(tmp_path: Path):
    cat = catalog(tmp_path)
    with pytest.raises(sqlite3.IntegrityError):  # NOT NULL: a bug, not a full disk
        cat.record_durable([(A, None, 1, "file")])  # type: ignore[list-item]
    assert cat.record_durable([(B, "b", 1, "file")])[0].name == "b"
    assert cat.get(A) is None
