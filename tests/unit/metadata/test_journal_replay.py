"""The journal's replay is exact around the snapshot's moment
(``app.metadata.journal_replay``): a snapshot keeps each user's feed head as its read
saw it, each tree record the head after its change, and a record is made again iff the
snapshot does not hold its change, whatever its time says. Old records (no seq) and old
snapshots (no heads) keep the rule of time."""

from __future__ import annotations

import gzip
import sqlite3
import time
from dataclasses import replace

import pytest
from sqlalchemy import Engine

from app.errors import AppError
from app.metadata.accounts import UserStore
from app.metadata.changes import FeedStore
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.journal import learn_records, note_record, prune_journal
from app.metadata.journal_records import (
    JournalRecord,
    encode_records,
    parse_records,
    tree_record,
)
from app.metadata.journal_replay import replay
from app.metadata.namespace import NamespaceStore
from app.metadata.shares import ShareStore
from app.metadata.snapshots import SnapshotInfo, record_snapshot, restore_snapshot, take_snapshot
from tests.unit.metadata.test_journal import tree_of
from tests.unit.metadata.test_recovery import A, B, populate, sqlite_engine


class Journaled:
    """A source database with alice's tree whose stores journal every change."""

    def __init__(self, source: Engine) -> None:
        populate(source)
        self.source = source
        self.written: list[JournalRecord] = []
        self.users = UserStore(source, on_write=self.written.append)
        self.namespace = NamespaceStore(source, self.written.append)
        self.alice = self.users.get("alice").id

    def records(self) -> list[JournalRecord]:
        """What was journaled, read back from its bytes."""
        return parse_records(encode_records(self.written))


@pytest.fixture
def journaled(tmp_path) -> Journaled:
    return Journaled(sqlite_engine(tmp_path / "source.db"))


def restored(engine: Engine, data: bytes):
    FileCatalogue(engine)  # a master started on an empty database
    return restore_snapshot(engine, data)


def versions(engine: Engine, user: int, path: str) -> list[tuple[str | None, int]]:
    return [(v.hash, v.version) for v in NamespaceStore(engine).versions(user, path)]


def test_a_file_overwritten_twice_just_before_the_read_gains_no_version(journaled, engine):
    """Both writes committed before the snapshot's read, stamped after its time."""
    taken_at = time.time()
    journaled.namespace.put_file(journaled.alice, "/n.txt", A, 4, 0)
    journaled.namespace.put_file(journaled.alice, "/n.txt", B, 2, 0)
    data, _fingerprint = take_snapshot(journaled.source)
    records = journaled.records()
    assert all(r.written_at > taken_at and r.seq for r in records)

    report = restored(engine, data)
    made = replay(engine, records, taken_at, report.feed_heads)
    assert made["files_put"] == 0, made
    assert versions(engine, journaled.alice, "/n.txt") == [(B, 2), (A, 1)]
    assert tree_of(engine) == tree_of(journaled.source)


def test_a_delete_restored_before_the_read_is_not_deleted_again(journaled, engine):
    taken_at = time.time()
    """Deleted, written over, put back (what was written becomes a version): all
    committed before the snapshot's read, stamped after its time."""
    taken_at = time.time()
    trash_id = journaled.namespace.trash(journaled.alice, "/docs/a.txt")
    journaled.namespace.put_file(journaled.alice, "/docs/a.txt", A, 4, 0)
    journaled.namespace.restore_trash(journaled.alice, trash_id, 0)
    data, _fingerprint = take_snapshot(journaled.source)

    report = restored(engine, data)
    made = replay(engine, journaled.records(), taken_at, report.feed_heads)
    assert (made["trashed"], made["files_put"], made["untrashed"]) == (0, 0, 0), made
    assert NamespaceStore(engine).require(journaled.alice, "/docs/a.txt").hash == B
    assert NamespaceStore(engine).list_trash(journaled.alice) == NamespaceStore(
        journaled.source
    ).list_trash(journaled.alice)
    assert versions(engine, journaled.alice, "/docs/a.txt") == versions(
        journaled.source, journaled.alice, "/docs/a.txt"
    )
    assert tree_of(engine) == tree_of(journaled.source)


def test_a_change_committed_after_the_read_but_stamped_before_the_time_is_made(journaled, engine):
    """The master that took the snapshot had a clock ahead of the one that wrote."""
    data, _fingerprint = take_snapshot(journaled.source)
    journaled.namespace.put_file(journaled.alice, "/late.txt", A, 4, 0)
    journaled.namespace.trash(journaled.alice, "/docs")
    records = journaled.records()
    taken_at = max(r.written_at for r in records) + 5.0

    report = restored(engine, data)
    made = replay(engine, records, taken_at, report.feed_heads)
    assert (made["files_put"], made["trashed"]) == (1, 1), made
    assert tree_of(engine) == tree_of(journaled.source)


def test_changes_of_one_user_are_made_again_in_commit_order(journaled, engine):
    """Two writes at once may be stamped the other way round from their commits."""
    data, _fingerprint = take_snapshot(journaled.source)
    journaled.namespace.put_file(journaled.alice, "/x.txt", A, 4, 0)
    journaled.namespace.put_file(journaled.alice, "/x.txt", B, 2, 0)
    first, second = journaled.records()
    swapped = [
        replace(first, written_at=second.written_at),
        replace(second, written_at=first.written_at),
    ]

    report = restored(engine, data)
    replay(engine, swapped, 0.0, report.feed_heads)
    assert versions(engine, journaled.alice, "/x.txt") == versions(
        journaled.source, journaled.alice, "/x.txt"
    )


def test_the_feed_goes_on_past_every_position_the_old_master_gave(journaled, engine):
    data, _fingerprint = take_snapshot(journaled.source)
    at_snapshot = FeedStore(journaled.source).position(journaled.alice)
    for index in range(3):
        journaled.namespace.put_file(journaled.alice, f"/f{index}.txt", A, 4, 0)
    given = FeedStore(journaled.source).position(journaled.alice)

    report = restored(engine, data)
    assert report.feed_heads == {journaled.alice: at_snapshot}
    feed = FeedStore(engine)
    assert feed.position(journaled.alice) > at_snapshot  # not 1: the database was empty
    replay(engine, journaled.records(), 0.0, report.feed_heads)
    assert feed.position(journaled.alice) > given
    with pytest.raises(AppError) as caught:
        feed.read(journaled.alice, given, "/", 10)
    assert caught.value.code == "cursor_expired"
    NamespaceStore(engine).put_file(journaled.alice, "/next.txt", B, 2, 0)
    now = feed.position(journaled.alice)
    assert now > given and [
        c.path for c in feed.read(journaled.alice, now - 1, "/", 10).changes
    ] == ["/next.txt"]


def test_a_snapshot_of_either_database_keeps_the_heads_of_its_read(engine, tmp_path):
    """PostgreSQL's rows are copied in the same repeatable read as the trees."""
    source = Journaled(engine)
    source.namespace.mkdir(source.alice, "/more")
    data, _fingerprint = take_snapshot(engine)
    head = FeedStore(engine).position(source.alice)
    source.namespace.mkdir(source.alice, "/after")
    report = restored(sqlite_engine(tmp_path / "target.db"), data)
    assert report.feed_heads == {source.alice: head}
    assert "feed_heads" not in report.to_dict()


def test_a_snapshot_without_heads_keeps_the_rule_of_time(journaled, tmp_path, engine):
    """An older master's snapshot: the records stamped after its time are made again."""
    journaled.namespace.put_file(journaled.alice, "/held.txt", A, 4, 0)
    data, _fingerprint = take_snapshot(journaled.source)
    taken_at = time.time()
    journaled.namespace.put_file(journaled.alice, "/held.txt", B, 2, 0)
    old = tmp_path / "old.db"
    old.write_bytes(gzip.decompress(data))
    with sqlite3.connect(old) as conn:
        conn.execute("DROP TABLE feed_heads")

    report = restored(engine, gzip.compress(old.read_bytes()))
    assert report.feed_heads is None
    made = replay(engine, journaled.records(), taken_at, report.feed_heads)
    assert made["files_put"] == 1, made
    assert tree_of(engine) == tree_of(journaled.source)


def test_records_without_seq_keep_the_rule_of_time_over_heads(journaled, engine):
    """Records of format 2 read back with no seq; over a snapshot with heads, the
    time decides for them."""
    data, _fingerprint = take_snapshot(journaled.source)
    taken_at = time.time()
    journaled.namespace.mkdir(journaled.alice, "/new")
    journaled.namespace.purge_trash(journaled.alice)
    (mkdir,) = journaled.records()[:1]
    format_2 = [
        b'{"format":2,"kind":"mkdir","user":%d,"written_at":%f,"args":["/new"]}'
        % (journaled.alice, mkdir.written_at),
        b'{"format":2,"kind":"mkdir","user":%d,"written_at":%f,"args":["/stale"]}'
        % (journaled.alice, taken_at - 1.0),
        b'{"format":2,"kind":"purge","user":%d,"written_at":%f,"args":[""]}'
        % (journaled.alice, taken_at - 1.0),
    ]
    old = [record for raw in format_2 for record in parse_records(raw)]
    assert [r.seq for r in old] == [None, None, None]

    report = restored(engine, data)
    made = replay(engine, old, taken_at, report.feed_heads)
    assert (made["folders"], made["purged"]) == (1, 0), made
    assert NamespaceStore(engine).get(journaled.alice, "/stale") is None
    fresh = replace(old[2], written_at=taken_at + 1.0)
    assert replay(engine, [fresh], taken_at, report.feed_heads)["purged"] == 1
    assert tree_of(engine) == tree_of(journaled.source)


def test_a_whole_trash_purged_before_the_read_spares_what_was_deleted_after(journaled, engine):
    """A purge takes no feed number, but holds the head: it is ordered with the rest."""
    taken_at = time.time()
    journaled.namespace.purge_trash(journaled.alice)  # populate's /old.txt
    journaled.namespace.trash(journaled.alice, "/docs/a.txt")
    data, _fingerprint = take_snapshot(journaled.source)
    purge, trashed = journaled.records()
    assert purge.seq is not None and trashed.seq == purge.seq + 1

    report = restored(engine, data)
    made = replay(engine, journaled.records(), taken_at, report.feed_heads)
    assert (made["purged"], made["trashed"]) == (0, 0), made
    assert [t["path"] for t in NamespaceStore(engine).list_trash(journaled.alice)] == [
        "/docs/a.txt"
    ]
    assert tree_of(engine) == tree_of(journaled.source)


def test_a_restore_that_makes_no_entry_after_the_read_is_made(journaled, engine):
    """Its folder is there again: it takes no number, only its trash entry goes."""
    namespace, alice = journaled.namespace, journaled.alice
    namespace.mkdir(alice, "/e")
    trash_id = namespace.trash(alice, "/e")
    namespace.mkdir(alice, "/e")
    data, _fingerprint = take_snapshot(journaled.source)
    journaled.written.clear()
    namespace.restore_trash(alice, trash_id, 0)
    (restore,) = journaled.records()
    assert restore.seq == FeedStore(journaled.source).position(alice)  # no number taken

    report = restored(engine, data)
    assert report.feed_heads == {alice: restore.seq}
    made = replay(engine, [restore], time.time(), report.feed_heads)
    assert made["untrashed"] == 1, made
    assert NamespaceStore(engine).list_trash(alice) == namespace.list_trash(alice)
    assert tree_of(engine) == tree_of(journaled.source)


def test_a_record_with_seq_round_trips_and_a_group_of_format_2_still_reads():
    moved = tree_record(3, "move", ("/a", "/b"), 13.0, seq=7)
    assert parse_records(encode_records([moved])) == [moved]
    assert b'"format":3' in encode_records([moved]) and b'"seq":7' in encode_records([moved])
    group = (
        b'{"format":2,"records":[{"format":2,"kind":"mkdir","user":1,"written_at":1,'
        b'"args":["/a"]},{"format":2,"kind":"purge","user":1,"written_at":2,"args":[""]}]}'
    )
    assert [(r.kind, r.seq) for r in parse_records(group)] == [("mkdir", None), ("purge", None)]


def test_records_a_little_older_than_the_oldest_snapshot_are_kept_and_learned(engine):
    FileCatalogue(engine)
    record_snapshot(engine, SnapshotInfo("cc" * 32, 1000.0, 10))
    note_record(engine, "01" * 32, 970.0, 5)  # within the margin: may be unheld
    note_record(engine, "02" * 32, 900.0, 5)
    assert prune_journal(engine) == 1
    assert learn_records(engine, [("03" * 32, 990.0, 5), ("04" * 32, 800.0, 5)]) == 1


def test_share_links_made_or_revoked_since_come_back_as_they_were(journaled, engine):
    """Made, made and revoked, revoked (the snapshot's link), and one expired since,
    which expiry would have purged."""
    taken_at = time.time()
    data, _fingerprint = take_snapshot(journaled.source)
    links = ShareStore(journaled.source, on_write=journaled.written.append)
    alice, entry = journaled.alice, journaled.namespace.require(journaled.alice, "/docs/a.txt")
    links.add(alice, entry, "k" * 64, "scrypt:pw", None)
    links.add(alice, entry, "m" * 64, None, None)
    links.revoke(alice, "m" * 64)
    links.revoke(alice, "t" * 64)  # populate's, in the snapshot
    links.add(alice, entry, "e" * 64, None, time.time() - 1.0)
    records = journaled.records()
    assert [r.kind for r in records] == ["share", "share", "unshare", "unshare", "share"]

    report = restored(engine, data)
    assert [s.id for s in ShareStore(engine).of_user(alice)] == ["t" * 16]
    made = replay(engine, records, taken_at, report.feed_heads)
    assert (made["shares"], made["unshared"], made["skipped"]) == (2, 2, 0), made
    expected = [s for s in links.of_user(alice) if s.id != "e" * 16]
    assert ShareStore(engine).of_user(alice) == expected and len(expected) == 1
    found = ShareStore(engine).find("k" * 64)
    assert found is not None and found.password_hash == "scrypt:pw"
    again = replay(engine, records, taken_at, report.feed_heads)
    # Only the link made and revoked since is made and revoked again: the same links.
    assert (again["shares"], again["unshared"]) == (1, 1), again
    assert ShareStore(engine).of_user(alice) == expected
