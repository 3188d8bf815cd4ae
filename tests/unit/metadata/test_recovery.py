"""What a master is rebuilt from: manifests as blobs (encoded, learned back, kept while
their file lives) and snapshots of the user trees (consistent under writes, restored)."""

from __future__ import annotations

import gzip
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from app.errors import InvalidSnapshot
from app.metadata.account_schema import fs_entries
from app.metadata.accounts import UserStore
from app.metadata.cluster import ClusterStore
from app.metadata.engine import make_engine, sqlite_url, write_transaction
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.journal import learn_records
from app.metadata.journal_records import journal_name, written_at_of
from app.metadata.manifests import (
    InvalidManifest,
    Manifest,
    decode_manifest,
    encode_manifest,
    learn_manifests,
    manifest_address,
    record_manifest,
    unknown_manifests,
)
from app.metadata.namespace import NamespaceStore
from app.metadata.records import FileRecord
from app.metadata.shares import ShareStore
from app.metadata.snapshot_manifests import (
    InvalidSnapshotManifest,
    SnapshotManifest,
    decode_snapshot_manifest,
    encode_snapshot_manifest,
)
from app.metadata.snapshots import (
    SnapshotInfo,
    known_snapshot_manifests,
    parse_snapshot_name,
    prune_snapshots,
    record_snapshot,
    restore_snapshot,
    snapshot_blocks_of,
    snapshot_name,
    take_snapshot,
)

A, B, BIG, MAN = "aa" * 32, "bb" * 32, "ff" * 32, "ee" * 32
LARGE = Manifest(BIG, "big.bin", 10, 4, ((A, 4), (A, 4), (B, 2)), public=False)


def sqlite_engine(path: Path) -> Engine:
    return make_engine(sqlite_url(path))


def test_a_manifest_round_trips_through_its_canonical_bytes():
    data = encode_manifest(LARGE)
    assert decode_manifest(data) == LARGE
    assert encode_manifest(decode_manifest(data)) == data  # one manifest, one address
    assert b" " not in data and data.index(b'"block_size"') < data.index(b'"blocks"')
    renamed = Manifest(BIG, "other.bin", 10, 4, LARGE.blocks, public=False)
    assert manifest_address(encode_manifest(renamed)) != manifest_address(data)


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"format": 2}',
        encode_manifest(Manifest(BIG, "x", 11, 4, ((A, 4), (B, 2)))),  # blocks short of size
        encode_manifest(Manifest(BIG, "x", 0, 4, ())),
        encode_manifest(LARGE).replace(b'"name":"big.bin"', b'"name":7'),
    ],
)
def test_bytes_that_are_no_manifest_are_refused(data):
    with pytest.raises(InvalidManifest):
        decode_manifest(data)


def test_a_learned_manifest_makes_its_file_and_keeps_its_blob_until_the_file_goes(engine):
    store = FileCatalogue(engine)
    store.register_blob(MAN, 300, ["n1"], private=True)
    assert unknown_manifests(engine, [MAN]) == [MAN]
    assert learn_manifests(engine, [(MAN, LARGE)]) == 1
    assert learn_manifests(engine, [(MAN, LARGE)]) == 0  # known: nothing made twice
    assert unknown_manifests(engine, [MAN]) == []
    record = store.get(BIG)
    assert record is not None and not record.public
    assert [(b.hash, b.size, b.offset) for b in record.blocks] == [(A, 4, 0), (A, 4, 4), (B, 2, 8)]
    # Garbage collection keeps the manifest's blob while the file lives...
    assert store.collect_garbage(time.time() + 10, 100) == []
    # ... and it goes with the file.
    deleted = store.delete_file(BIG)
    assert deleted is not None
    assert MAN in {blob.hash for blob in deleted[1]}


def populate(engine: Engine) -> dict[str, object]:
    """A user with a token, files, a folder, versions, trash and a share link."""
    store = FileCatalogue(engine)
    users = UserStore(engine)
    namespace = NamespaceStore(engine)
    alice = users.add("alice", "hash-of-alice")
    token = users.issue_token(alice)
    store.register(FileRecord(A, A, 4, ("n1",), public=False))
    store.register(FileRecord(B, B, 2, ("n1",), public=False))
    namespace.mkdir(alice.id, "/docs")
    namespace.put_file(alice.id, "/docs/a.txt", A, 4, 0)
    namespace.put_file(alice.id, "/docs/a.txt", B, 2, 0)  # version 2; version 1 kept
    namespace.put_file(alice.id, "/old.txt", A, 4, 0)
    namespace.trash(alice.id, "/old.txt")
    entry = namespace.require(alice.id, "/docs/a.txt")
    ShareStore(engine).add(alice.id, entry, "t" * 64, None, None)
    store.register_blob(MAN, 300, ["n1"], private=True)
    learn_manifests(engine, [(MAN, LARGE)])
    return {"user": alice, "token": token}


def test_a_snapshot_restores_into_an_empty_database(tmp_path):
    source = sqlite_engine(tmp_path / "old.db")
    made = populate(source)
    data, _fingerprint = take_snapshot(source)
    raw = gzip.decompress(data)
    (tmp_path / "snap.db").write_bytes(raw)
    with sqlite3.connect(tmp_path / "snap.db") as snap:
        tables = {
            row[0] for row in snap.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    # Only what nodes cannot tell: no copies, nodes, uploads or the signing key.
    assert {"users", "fs_entries", "files", "manifests"} <= tables
    assert not {"replicas", "nodes", "settings", "uploads"} & tables

    target = sqlite_engine(tmp_path / "new.db")
    FileCatalogue(target)  # the schema of a master started on an empty data directory
    report = restore_snapshot(target, data)
    assert (report.users, report.versions, report.trash, report.shares) == (1, 1, 1, 1)
    assert report.entries == 2 and report.files == 3  # /docs, /docs/a.txt; A, B and BIG
    users = UserStore(target)
    assert users.get("alice").id == made["user"].id
    assert users.user_for_token(made["token"]).name == "alice"  # its clients stay logged in
    namespace = NamespaceStore(target)
    assert namespace.require(made["user"].id, "/docs/a.txt").hash == B
    assert [v.hash for v in namespace.versions(made["user"].id, "/docs/a.txt")] == [B, A]
    restored = FileCatalogue(target).get(BIG)
    assert restored is not None and len(restored.blocks) == 3
    assert unknown_manifests(target, [MAN]) == []

    # Restoring again replaces the trees (nothing doubled), and new users get fresh ids.
    assert restore_snapshot(target, data).users == 1
    assert users.add("bob", "hash-of-bob").id > made["user"].id
    with pytest.raises(InvalidSnapshot):
        restore_snapshot(target, b"not gzip")
    with pytest.raises(InvalidSnapshot):
        restore_snapshot(target, gzip.compress(b"not sqlite"))


def test_a_snapshot_of_either_database_restores_into_the_other(engine, tmp_path):
    """PostgreSQL's rows are copied into the same SQLite file the online backup makes."""
    made = populate(engine)
    data, _fingerprint = take_snapshot(engine)
    target = sqlite_engine(tmp_path / "other.db")
    FileCatalogue(target)
    assert restore_snapshot(target, data).users == 1
    assert UserStore(target).user_for_token(made["token"]).name == "alice"


def test_a_snapshot_taken_while_writes_go_on_is_consistent(tmp_path):
    """Each write adds two entries in one transaction: a snapshot holds both or neither."""
    engine = sqlite_engine(tmp_path / "busy.db")
    FileCatalogue(engine)
    user = UserStore(engine).add("writer", "x")
    stop = threading.Event()
    written = 0

    def write_pairs() -> None:
        nonlocal written
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            with write_transaction(engine) as conn:
                for side in ("a", "b"):
                    conn.execute(
                        fs_entries.insert(),
                        {
                            "user_id": user.id,
                            "path": f"/{side}{written}",
                            "parent": "/",
                            "name": f"{side}{written}",
                            "is_dir": False,
                            "file_hash": A,
                            "size": 4,
                            "mtime": time.time(),
                        },
                    )
            written += 1

    writer = threading.Thread(target=write_pairs)
    writer.start()
    try:
        seen = []
        for attempt in range(4):
            data, _fingerprint = take_snapshot(engine)
            target = sqlite_engine(tmp_path / f"restored{attempt}.db")
            FileCatalogue(target)
            restore_snapshot(target, data)
            with target.connect() as conn:
                paths = list(conn.execute(select(fs_entries.c.path)).scalars())
            a = {p[2:] for p in paths if p.startswith("/a")}
            b = {p[2:] for p in paths if p.startswith("/b")}
            assert a == b
            seen.append(len(a))
            target.dispose()
    finally:
        stop.set()
        writer.join()
    assert written > 0 and seen[-1] > 0
    assert seen == sorted(seen)  # each a later state than the one before


def test_the_fingerprint_moves_only_with_what_a_snapshot_keeps(tmp_path):
    engine = sqlite_engine(tmp_path / "meta.db")
    populate(engine)
    first = take_snapshot(engine)[1]
    store = FileCatalogue(engine)
    store.register_blob("cd" * 32, 3, ["n2"])  # a copy: nodes tell it, not the snapshot
    assert take_snapshot(engine)[1] == first
    UserStore(engine).add("bob", "hash-of-bob")
    assert take_snapshot(engine)[1] != first


def test_record_manifest_points_a_file_at_its_latest_manifest(engine):
    store = FileCatalogue(engine)
    store.register_blob(MAN, 300, ["n1"], private=True)
    learn_manifests(engine, [(MAN, LARGE)])
    other = "dd" * 32
    with write_transaction(engine) as conn:
        record_manifest(conn, BIG, other)
    assert unknown_manifests(engine, [MAN, other]) == [MAN]


def test_repair_copies_manifests_and_snapshots_as_what_they_are(engine):
    """A rebuilt master finds them by the kind their copies carry on the nodes."""
    store = FileCatalogue(engine)
    snap, record = "5a" * 32, "4b" * 32
    for blob in (MAN, snap, record, A, B):
        store.register_blob(blob, 3, ["n1"])
    learn_manifests(engine, [(MAN, LARGE)])
    record_snapshot(engine, SnapshotInfo(snap, 1234.5, 3))
    learn_records(engine, [(record, 2000.5, 3)])
    states = ClusterStore(engine).replication_states({"n1", "n2"}, {"n1", "n2"}, 2, 10)
    assert {s.hash: s.kind for s in states} == {
        MAN: "manifest",
        snap: "snapshot",
        record: "journal",
        A: "block",
        B: "block",
    }
    # With the names that tell a rebuilt master what they are (a node names a copy
    # without one by its hash, and a snapshot so named was found by no rebuilt master).
    names = {s.hash: s.name for s in states}
    assert names == {
        MAN: f"manifest-{BIG}",
        snap: "snapshot-1234.500.db.gz",
        record: journal_name(2000.5),
        A: "",
        B: "",
    }
    assert parse_snapshot_name(names[snap]) == (1234.5, False)
    assert written_at_of(names[record]) == 2000.5
    # A snapshot kept is referenced; once forgotten, it is garbage.
    assert store.collect_garbage(time.time() + 10, 100) == []
    assert prune_snapshots(engine, 0) == 1
    assert [blob.hash for blob in store.collect_garbage(time.time() + 10, 100)] == [snap]


SNAP_MANIFEST = SnapshotManifest(BIG, 10, 1234.5, 4, ((A, 4), (B, 4), ("cc" * 32, 2)))


def test_a_snapshot_manifest_round_trips_and_its_name_says_what_it_is():
    data = encode_snapshot_manifest(SNAP_MANIFEST)
    assert decode_snapshot_manifest(data) == SNAP_MANIFEST
    assert encode_snapshot_manifest(decode_snapshot_manifest(data)) == data
    assert parse_snapshot_name(snapshot_name(1234.5)) == (1234.5, False)
    assert parse_snapshot_name(snapshot_name(1234.5, blocks=True)) == (1234.5, True)
    for name in ("snapshot-x.db.gz", "manifest-1.blocks.json", "snapshot-1.db.gz.0", ""):
        assert parse_snapshot_name(name) is None, name


@pytest.mark.parametrize(
    "data",
    [
        b"{}",
        encode_manifest(LARGE),  # a large file's manifest is no snapshot's
        encode_snapshot_manifest(SnapshotManifest(BIG, 11, 1.0, 4, ((A, 4), (B, 4)))),
        encode_snapshot_manifest(SnapshotManifest(BIG, 0, 1.0, 4, ())),
        encode_snapshot_manifest(SNAP_MANIFEST).replace(b'"taken_at":1234.5', b'"taken_at":"x"'),
    ],
)
def test_bytes_that_are_no_snapshot_manifest_are_refused(data):
    with pytest.raises(InvalidSnapshotManifest):
        decode_snapshot_manifest(data)


def test_a_snapshot_of_blocks_keeps_its_manifest_and_blocks_until_it_is_forgotten(engine):
    """Repair copies the manifest as a snapshot (a rebuilt master finds it by kind) and
    the blocks as blocks; GC keeps all of them while the snapshot is kept."""
    store = FileCatalogue(engine)
    blocks = SNAP_MANIFEST.blocks
    for blob, size in (*blocks, (MAN, 300)):
        store.register_blob(blob, size, ["n1"], private=True)
    assert known_snapshot_manifests(engine, [MAN]) == set()
    info = SnapshotInfo(BIG, SNAP_MANIFEST.taken_at, SNAP_MANIFEST.size, MAN)
    record_snapshot(engine, info, blocks)
    record_snapshot(engine, info, blocks)  # known: a no-op
    assert known_snapshot_manifests(engine, [MAN, A]) == {MAN}
    assert snapshot_blocks_of(engine, BIG) == list(blocks)
    states = ClusterStore(engine).replication_states({"n1", "n2"}, {"n1", "n2"}, 2, 10)
    assert {s.hash: s.kind for s in states} == {MAN: "snapshot", **{h: "block" for h, _ in blocks}}
    named = {s.hash: s.name for s in states}
    assert parse_snapshot_name(named[MAN]) == (SNAP_MANIFEST.taken_at, True)
    assert store.collect_garbage(time.time() + 10, 100) == []
    assert prune_snapshots(engine, 0) == 1
    assert snapshot_blocks_of(engine, BIG) == []
    collected = {blob.hash for blob in store.collect_garbage(time.time() + 10, 100)}
    assert collected == {MAN, *(h for h, _ in blocks)}
