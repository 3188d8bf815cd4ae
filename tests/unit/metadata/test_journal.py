"""The tree journal (``app.metadata.journal``): what the stores journal after a snapshot,
read back from its bytes and replayed over the snapshot restored, makes the same
accounts and trees as the database it was written from."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, select

from app.errors import InvalidSnapshot
from app.metadata.account_schema import fs_entries, fs_versions, users
from app.metadata.accounts import UserStore
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.journal import replay
from app.metadata.journal_records import (
    AccountState,
    JournalRecord,
    account_record,
    parse_record,
)
from app.metadata.namespace import NamespaceStore
from app.metadata.snapshots import restore_snapshot, take_snapshot
from tests.unit.metadata.test_recovery import A, B, populate, sqlite_engine


def accounts_of(engine: Engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(select(users)).all()
    return {r.name: (r.id, r.password_hash, r.is_admin, r.disabled, r.quota_bytes) for r in rows}


def tree_of(engine: Engine) -> set[tuple]:
    """Every entry and version of every user, as (user, path, folder?, hash, version)."""
    with engine.connect() as conn:
        entries = conn.execute(select(fs_entries)).all()
        versions = conn.execute(select(fs_versions)).all()
    return {(r.user_id, r.path, r.is_dir, r.file_hash, r.version) for r in entries} | {
        (r.user_id, r.path, None, r.file_hash, r.version) for r in versions
    }


def journaled_after_snapshot(tmp_path, change) -> tuple[Engine, bytes, list[JournalRecord]]:
    """A database with alice's tree, its snapshot, then ``change(users, namespace)``
    made with the stores journaling: the records, read back from their bytes."""
    source = sqlite_engine(tmp_path / "source.db")
    populate(source)
    data, _fingerprint = take_snapshot(source)
    written: list[JournalRecord] = []
    change(UserStore(source, on_write=written.append), NamespaceStore(source, written.append))
    return source, data, [parse_record(record.to_bytes()) for record in written]


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
    assert made == {"files_put": 2, "accounts": 3, "skipped": 0}
    assert accounts_of(engine) == accounts_of(source)
    assert tree_of(engine) == tree_of(source)
    # The next account gets an id past the ones replayed (PostgreSQL: its sequence).
    carol = UserStore(engine).add("carol", "scrypt:hash-of-carol")
    assert carol.id > max(row[0] for row in accounts_of(source).values())


def test_records_older_than_the_snapshot_or_of_no_known_user_are_skipped(engine):
    FileCatalogue(engine)
    alice = UserStore(engine).add("alice", "scrypt:a")
    stale = account_record(alice.id, AccountState("alice", "old", True, True, 1), 5.0)
    stranger = JournalRecord(alice.id + 1, 20.0, files=(("/x.txt", A, 4),))
    assert replay(engine, [stale, stranger], 10.0) == {"files_put": 0, "accounts": 0, "skipped": 1}
    assert UserStore(engine).get("alice") == alice


def test_a_record_round_trips_and_the_first_format_still_reads():
    record = account_record(3, AccountState("bob", "scrypt:h", True, False, 7), 12.5)
    assert parse_record(record.to_bytes()) == record
    first = b'{"format":1,"user":2,"written_at":1.5,"files":[["/a.txt","' + A.encode() + b'",4]]}'
    assert parse_record(first) == JournalRecord(2, 1.5, "files", files=(("/a.txt", A, 4),))


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"format":3,"kind":"files","user":1,"written_at":1,"files":[]}',
        b'{"format":2,"kind":"rename","user":1,"written_at":1,"args":["/a","/b"]}',
        b'{"format":2,"kind":"account","user":1,"written_at":1,"account":{"name":"x"}}',
        b'{"format":2,"kind":"files","user":1,"written_at":1,"files":[["/a"]]}',
    ],
)
def test_bytes_that_are_no_record_are_refused(data):
    with pytest.raises(InvalidSnapshot):
        parse_record(data)


def test_writes_before_a_change_are_journaled_at_their_commit_time(tmp_path):
    """Records are stamped after their commit, in order: replay keeps it."""
    before = time.time()

    def change(accounts: UserStore, namespace: NamespaceStore) -> None:
        bob = accounts.add("bob", "scrypt:b")
        namespace.put_file(bob.id, "/one.txt", A, 4, 0)

    _source, _data, records = journaled_after_snapshot(tmp_path, change)
    stamps = [r.written_at for r in records]
    assert stamps == sorted(stamps) and stamps[0] >= before
