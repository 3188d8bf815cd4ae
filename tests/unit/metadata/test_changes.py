"""The account change feed's table: every change of a tree recorded with it, numbered in
order, seen from a folder, trimmed by retention; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from app.errors import AppError
from app.metadata.accounts import UserStore
from app.metadata.changes import FeedStore
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.namespace import NamespaceStore
from app.metadata.records import FileRecord
from app.metadata.snapshots import restore_snapshot, take_snapshot

A, B = "aa" * 32, "bb" * 32


@pytest.fixture
def stores(engine):
    catalogue = FileCatalogue(engine)
    users = UserStore(engine)
    alice, bob = users.add("alice", "x").id, users.add("bob", "x").id
    for digest in (A, B):
        catalogue.register(FileRecord(digest, digest, 10, ("n1",), public=False))
    return NamespaceStore(engine), FeedStore(engine), alice, bob


def seen(feed, user, after=0, scope="/", limit=1000):
    page = feed.read(user, after, scope, limit)
    return [(c.kind, c.path, c.from_path) for c in page.changes], page


def test_every_kind_of_change_is_recorded_once_in_order(stores):
    ns, feed, alice, bob = stores
    ns.put_file(alice, "/d/a.txt", A, 10, 0)  # creates /d on the way
    ns.put_file(alice, "/d/a.txt", B, 10, 0)  # overwrite
    ns.mkdir(alice, "/e/f")
    ns.move(alice, "/d", "/e/f/d")
    ns.copy(alice, "/e/f/d", "/c", 0)
    trash_id = ns.trash(alice, "/e")
    ns.restore_trash(alice, trash_id, 0)
    ns.restore_version(alice, "/c/a.txt", 1, 0)
    ns.purge_trash(alice)  # changes no tree
    kinds, page = seen(feed, alice)
    assert kinds == [
        ("upsert", "/d", None),
        ("upsert", "/d/a.txt", None),
        ("upsert", "/d/a.txt", None),
        ("upsert", "/e", None),
        ("upsert", "/e/f", None),
        ("move", "/e/f/d", "/d"),
        ("upsert", "/c", None),
        ("upsert", "/c/a.txt", None),
        ("delete", "/e", None),
        ("upsert", "/e", None),
        ("upsert", "/e/f", None),
        ("upsert", "/e/f/d", None),
        ("upsert", "/e/f/d/a.txt", None),
        ("upsert", "/c/a.txt", None),
    ]
    assert [c.seq for c in page.changes] == list(range(1, 15))
    assert page.position == 14 and not page.has_more
    last = page.changes[-1]
    # The copy has no history of its own: version 1 is what was copied.
    assert (last.is_dir, last.hash, last.version) == (False, B, 2)
    assert seen(feed, bob)[0] == [] and feed.position(bob) == 0
    # Paging: the position follows the last change given.
    first, page = seen(feed, alice, 0, "/", 5)
    assert len(first) == 5 and page.has_more and page.position == 5
    rest, page = seen(feed, alice, 5)
    assert len(rest) == 9 and not page.has_more


def test_a_folder_sees_moves_across_its_edge_as_deletes_and_arrivals(stores):
    ns, feed, alice, _bob = stores
    ns.put_file(alice, "/in/keep.txt", A, 10, 0)
    ns.put_file(alice, "/out/sub/x.txt", B, 10, 0)
    start = feed.position(alice)
    ns.move(alice, "/out/sub", "/in/sub")  # arrives with its subtree
    ns.move(alice, "/in/keep.txt", "/in/kept.txt")  # inside
    ns.move(alice, "/in/kept.txt", "/out/kept.txt")  # leaves
    ns.put_file(alice, "/out/other.txt", A, 10, 0)  # elsewhere: not seen
    kinds, page = seen(feed, alice, start, "/in")
    assert kinds == [
        ("upsert", "/in/sub", None),
        ("upsert", "/in/sub/x.txt", None),
        ("move", "/in/kept.txt", "/in/keep.txt"),
        ("delete", "/in/kept.txt", None),
    ]
    assert page.position == feed.position(alice)
    # A folder above the one followed goes: the followed one is gone with it.
    ns.put_file(alice, "/top/mid/f.txt", A, 10, 0)
    at = feed.position(alice)
    ns.trash(alice, "/top")
    assert seen(feed, alice, at, "/top/mid")[0] == [("delete", "/top/mid", None)]
    # Moving the followed folder's parent away is a delete too; "/topless" is no child.
    ns.put_file(alice, "/topless/g.txt", A, 10, 0)
    assert not feed.has_change(alice, at + 1, feed.position(alice), "/top")
    assert feed.has_change(alice, at, feed.position(alice), "/top")


def test_tree_pages_by_path_with_the_position_read_before(stores):
    ns, feed, alice, _bob = stores
    for path in ("/b/2", "/a b", "/a/1", "/a/z/3"):
        ns.put_file(alice, path, A, 10, 0)
    # By code point: " " sorts before "/", and a folder always before what it holds.
    entries, more, position = feed.tree(alice, "/", None, 3)
    assert [e.path for e in entries] == ["/a", "/a b", "/a/1"] and more
    assert position == feed.position(alice)
    entries, more, _ = feed.tree(alice, "/", "/a/1", 10)
    assert [e.path for e in entries] == ["/a/z", "/a/z/3", "/b", "/b/2"] and not more
    entries, _, _ = feed.tree(alice, "/a", None, 10)
    assert [e.path for e in entries] == ["/a/1", "/a/z", "/a/z/3"]


def test_retention_trims_old_and_surplus_changes_and_expires_cursors(stores):
    ns, feed, alice, bob = stores
    for n in range(5):
        ns.put_file(alice, f"/f{n}", A, 10, 0)
    ns.put_file(bob, "/b", A, 10, 0)
    assert feed.trim(now=0.0, retention=0, keep=2) == 3
    assert seen(feed, alice, 3)[0] == [("upsert", "/f3", None), ("upsert", "/f4", None)]
    for stale in (0, 2, 99):
        with pytest.raises(AppError) as caught:
            feed.read(alice, stale, "/", 10)
        assert (caught.value.status, caught.value.code) == (410, "cursor_expired")
    # By age: everything recorded before the cut goes.
    assert feed.trim(now=4e9, retention=1.0, keep=0) == 3
    assert seen(feed, alice, 5)[0] == [] and seen(feed, bob, 1)[0] == []
    ns.put_file(alice, "/later", B, 10, 0)
    assert seen(feed, alice, 5)[0] == [("upsert", "/later", None)]


def test_many_files_in_one_transaction_each_refused_alone(stores):
    ns, feed, alice, _bob = stores
    ns.mkdir(alice, "/d/taken")
    at = feed.position(alice)
    answers = ns.put_files(
        alice, [("/d/a", A, 10), ("/d/taken", B, 10), ("/d/sub/b", B, 10), ("/d/a", B, 10)], 0
    )
    assert [getattr(a, "code", None) for a in answers] == [None, "is_a_directory", None, None]
    assert [a.version for a in answers if not isinstance(a, AppError)] == [1, 1, 2]
    # The refused one left no change behind, not even a number.
    assert [(c.seq, c.kind, c.path) for c in feed.read(alice, at, "/", 10).changes] == [
        (at + 1, "upsert", "/d/a"),
        (at + 2, "upsert", "/d/sub"),
        (at + 3, "upsert", "/d/sub/b"),
        (at + 4, "upsert", "/d/a"),
    ]


def test_many_distinct_files_in_a_few_statements_each_refused_alone(stores):
    ns, feed, alice, _bob = stores
    ns.mkdir(alice, "/d/taken")
    ns.put_file(alice, "/d/old", A, 10, 0)
    ns.put_file(alice, "/file", A, 10, 0)
    at = feed.position(alice)
    answers = ns.put_files(
        alice,
        [("/d/old", B, 10), ("/d/taken", B, 10), ("/file/x", B, 10), ("/n/e/w", B, 10)],
        0,
    )
    assert [getattr(a, "code", None) for a in answers] == [
        None,
        "is_a_directory",
        "not_a_directory",
        None,
    ]
    assert (answers[0].version, answers[3].version) == (2, 1)
    assert [(v.version, v.hash) for v in ns.versions(alice, "/d/old")] == [(2, B), (1, A)]
    assert ns.get(alice, "/file").hash == A and ns.get(alice, "/n/e/w").hash == B
    assert [(c.kind, c.path) for c in feed.read(alice, at, "/", 10).changes] == [
        ("upsert", "/n"),
        ("upsert", "/n/e"),
        ("upsert", "/d/old"),
        ("upsert", "/n/e/w"),
    ]


def test_a_restored_snapshot_expires_every_cursor_given_before(stores, engine):
    ns, feed, alice, _bob = stores
    ns.put_file(alice, "/kept", A, 10, 0)
    snapshot, _fingerprint = take_snapshot(engine)
    ns.put_file(alice, "/lost", B, 10, 0)
    before = feed.position(alice)
    restore_snapshot(engine, snapshot)
    assert ns.get(alice, "/lost") is None
    with pytest.raises(AppError) as caught:
        feed.read(alice, before, "/", 10)
    assert caught.value.code == "cursor_expired"
    # The feed goes on from where it was: a cursor taken now follows what comes next.
    assert feed.position(alice) == before + 1
    ns.put_file(alice, "/new", B, 10, 0)
    assert [c.path for c in feed.read(alice, before + 1, "/", 10).changes] == ["/new"]
