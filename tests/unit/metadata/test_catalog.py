from __future__ import annotations

from pathlib import Path

from app.metadata.catalog import BlobCatalog
from app.metadata.engine import make_engine, sqlite_url

A, B, C = "a" * 64, "b" * 64, "c" * 64


def catalog(tmp_path: Path) -> BlobCatalog:
    return BlobCatalog(make_engine(sqlite_url(tmp_path / "catalog.db"), synchronous="NORMAL"))


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
    cat = BlobCatalog(make_engine(sqlite_url(tmp_path / "c.db")), name_cache_size=2)
    cat.record_many([(A, "a.txt", 1, "file"), (B, "b.txt", 1, "file")])
    assert len(cat._names) == 0  # a stream of uploads leaves memory as it was
    assert cat.name_of(A) == "a.txt"
    assert len(cat._names) == 1
    cat.record(C, "c.txt", 1)
    assert [cat.name_of(digest) for digest in (A, B, C)] == ["a.txt", "b.txt", "c.txt"]
    assert len(cat._names) == 2  # bounded
