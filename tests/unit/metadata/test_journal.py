"""The tree journal (``app.metadata.journal``): what the stores journal after a snapshot,
read back from its bytes and replayed over the snapshot restored, makes the same
accounts and trees as the database it was written from."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, select

from app.errors import InvalidSnapshot
from app.metadata.account_schema import fs_entries, fs_versions, trash, trash_items, users
from app.metadata.accounts import UserStore
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.journal_records import (
    AccountState,
    JournalRecord,
    account_record,
    encode_records,
    parse_records,
    tree_record,
)
from app.metadata.journal_replay import replay
from app.metadata.namespace import NamespaceStore
from app.metadata.snapshots import restore_snapshot, take_snapshot
from tests.unit.metadata.test_recovery import A, B, populate, sqlite_engine


def accounts_of(engine: Engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(select(users)).all()
    return {r.name: (r.id, r.password_hash, r.is_admin, r.disabled, r.quota_bytes) for r in rows}


def tree_of(engine: Engine) -> set[tuple]:
    """Every entry, version and trash item of every user, as (where, user, path, folder?,
    hash, version)."""
    with engine.connect() as conn:
        entries = conn.execute(select(fs_entries)).all()
        versions = conn.execute(select(fs_versions)).all()
        trashed = conn.execute(
            select(trash.c.id, trash.c.user_id, trash_items).join(
                trash_items, trash_items.c.trash_id == trash.c.id
            )
        ).all()
    return (
        {("tree", r.user_id, r.path, r.is_dir, r.file_hash, r.version) for r in entries}
        | {("version", r.user_id, r.path, None, r.file_hash, r.version) for r in versions}
        | {(r.id, r.user_id, r.path, r.is_dir, r.file_hash, r.version) for r in trashed}
    )


def journaled_after_snapshot(tmp_path, change) -> tuple[Engine, bytes, list[JournalRecord]]:
    """A database with alice's tree, its snapshot, then ``change(users, namespace)``
    made with the stores journaling: the records, read back from their bytes."""
    source = sqlite_engine(tmp_path / "source.db")
    populate(source)
    data, _fingerprint = take_snapshot(source)
    written: list[JournalRecord] = []
    change(UserStore(source, on_write=written.append), NamespaceStore(source, written.append))
    return source, data, parse_records(encode_records(written))


def test_accounts_made_after_the_snapshot_come_back_before_their_files(engine, tmp_path):
    def change(accounts: UserStore, namespace: NamespaceStore) -> None:
        bob = accounts.add("bob", "scrypt:hash-of-bob", quota=1000)
        namespace.put_file(bob.id, "/mine/b.txt", B, 2, 1000)
        namespace.put_file(bob.id, "/mine/b.txt", A, 4, 1000)
        accounts.update("alice", password_hash="scrypt:new-hash-of-alice", is_admin=True)
        accounts.update("bob", disabled=True, quota_bytes=2000)

    source, data, records = journaled_after_snapshot(tmp_path, change)
    assert [r.kind for r in records] == ["account", "files", "files", "account", "account"]
    assert records[0].account == AccountState("bob", "scrypt:hash-of-bob", False, False, 1000)

    FileCatalogue(engine)  # a master started on an empty database
    restore_snapshot(engine, data)
    assert set(accounts_of(engine)) == {"alice"}
    made = replay(engine, records, 0.0)
    assert (made["files_put"], made["accounts"], made["skipped"]) == (2, 3, 0), made
    assert accounts_of(engine) == accounts_of(source)
    assert tree_of(engine) == tree_of(source)
    # The next account gets an id past the ones replayed (PostgreSQL: its sequence).
    carol = UserStore(engine).add("carol", "scrypt:hash-of-carol")
    assert carol.id > max(row[0] for row in accounts_of(source).values())


def test_deletes_moves_copies_and_folders_come_back_in_order_with_the_writes(engine, tmp_path):
    """Each kind, in an order where each needs the one before: a file written then
    moved, a folder made then filled by a copy, a delete restored, a folder deleted."""

    def change(accounts: UserStore, namespace: NamespaceStore) -> None:
        alice = accounts.get("alice").id
        namespace.mkdir(alice, "/empty/deeper")
        namespace.put_file(alice, "/inbox/new.txt", A, 4, 0)
        namespace.move(alice, "/inbox/new.txt", "/docs/renamed.txt")
        namespace.move(alice, "/docs", "/papers")  # a folder, its versions with it
        namespace.mkdir(alice, "/copies")
        namespace.copy(alice, "/papers", "/copies/papers", 0)
        trash_id = namespace.trash(alice, "/papers/renamed.txt")
        namespace.restore_trash(alice, trash_id, 0)
        namespace.trash(alice, "/inbox")  # left in the trash
        namespace.put_file(alice, "/inbox", B, 2, 0)  # a file where the folder was
        namespace.put_file(alice, "/scratch.txt", B, 2, 0)
        namespace.purge_trash(alice, namespace.trash(alice, "/scratch.txt"))  # for good

    source, data, records = journaled_after_snapshot(tmp_path, change)
    assert [r.kind for r in records] == [
        "mkdir",
        "files",
        "move",
        "move",
        "mkdir",
        "copy",
        "trash",
        "untrash",
        "trash",
        "files",
        "files",
        "trash",
        "purge",
    ]
    FileCatalogue(engine)
    restore_snapshot(engine, data)
    before = tree_of(engine)
    made = replay(engine, records, 0.0)
    assert made == {
        "files_put": 3,
        "accounts": 0,
        "skipped": 0,
        "folders": 2,
        "moves": 2,
        "copies": 1,
        "trashed": 3,
        "untrashed": 1,
        "purged": 1,
        "shares": 0,
        "unshared": 0,
    }
    assert tree_of(engine) == tree_of(source) != before
    namespace = NamespaceStore(engine)
    alice = UserStore(engine).get("alice").id
    assert [v.hash for v in namespace.versions(alice, "/papers/a.txt")] == [B, A]
    assert [t["path"] for t in namespace.list_trash(alice)] == ["/inbox", "/old.txt"]
    # A change that was made already (the snapshot had it) is not made twice.
    again = replay(engine, records[2:4] + records[8:9], 0.0)
    assert (again["moves"], again["trashed"], again["skipped"]) == (0, 0, 0), again
    assert tree_of(engine) == tree_of(source)


def test_a_whole_trash_purged_since_is_purged_again(engine, tmp_path):
    def change(accounts: UserStore, namespace: NamespaceStore) -> None:
        namespace.purge_trash(accounts.get("alice").id)

    source, data, records = journaled_after_snapshot(tmp_path, change)
    FileCatalogue(engine)
    restore_snapshot(engine, data)
    alice = UserStore(engine).get("alice").id
    assert [t["path"] for t in NamespaceStore(engine).list_trash(alice)] == ["/old.txt"]
    assert replay(engine, records, 0.0)["purged"] == 1
    assert NamespaceStore(engine).list_trash(alice) == []
    assert tree_of(engine) == tree_of(source)


def test_records_older_than_the_snapshot_or_of_no_known_user_are_skipped(engine):
    FileCatalogue(engine)
    alice = UserStore(engine).add("alice", "scrypt:a")
    stale = account_record(alice.id, AccountState("alice", "old", True, True, 1), 5.0)
    stranger = JournalRecord(alice.id + 1, 20.0, files=(("/x.txt", A, 4),))
    made = replay(engine, [stale, stranger], 10.0)
    assert (made["files_put"], made["accounts"], made["skipped"]) == (0, 0, 1), made
    assert UserStore(engine).get("alice") == alice


def test_records_round_trip_alone_or_grouped_and_the_first_format_still_reads():
    record = account_record(3, AccountState("bob", "scrypt:h", True, False, 7), 12.5)
    moved = tree_record(3, "move", ("/a", "/b"), 13.0)
    files = JournalRecord(3, 14.0, files=(("/b/c.txt", A, 4),))
    for records in ([record], [moved], [files], [record, moved, files]):
        assert parse_records(encode_records(records)) == records
    assert b'"records"' not in encode_records([moved])  # alone, as before groups
    first = b'{"format":1,"user":2,"written_at":1.5,"files":[["/a.txt","' + A.encode() + b'",4]]}'
    assert parse_records(first) == [JournalRecord(2, 1.5, "files", files=(("/a.txt", A, 4),))]


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"format":4,"kind":"files","user":1,"written_at":1,"files":[]}',
        b'{"format":2,"kind":"rename","user":1,"written_at":1,"args":["/a","/b"]}',
        b'{"format":2,"kind":"account","user":1,"written_at":1,"account":{"name":"x"}}',
        b'{"format":2,"kind":"files","user":1,"written_at":1,"files":[["/a"]]}',
        b'{"format":2,"kind":"move","user":1,"written_at":1,"args":["/a"]}',
        b'{"format":2,"records":[]}',
        b'{"format":2,"records":[{"format":2,"kind":"mkdir","user":1}]}',
    ],
)
def test_bytes_that_are_no_record_are_refused(data):
    with pytest.raises(InvalidSnapshot):
        parse_records(data)


def test_records_are_stamped_after_their_commit_in_the_order_made(tmp_path):
    """Records are stamped after their commit, in order: replay keeps it."""
    before = time.time()

    def change(accounts: UserStore, namespace: NamespaceStore) -> None:
        bob = accounts.add("bob", "scrypt:b")
        namespace.put_file(bob.id, "/one.txt", A, 4, 0)

    _source, _data, records = journaled_after_snapshot(tmp_path, change)
    stamps = [r.written_at for r in records]
    assert stamps == sorted(stamps) and stamps[0] >= before
