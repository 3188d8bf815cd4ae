"""Users' namespaces, versions, trash, shares and the collection of private content,
on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from app.errors import AppError
from app.metadata.accounts import UserStore
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.namespace import NamespaceStore
from app.metadata.records import FileRecord, PurgedBlob
from app.metadata.shares import ShareStore

A, B, C = "aa" * 32, "bb" * 32, "cc" * 32


@pytest.fixture
def stores(engine):
    catalogue = FileCatalogue(engine)
    users = UserStore(engine)
    alice = users.add("alice", "x").id
    bob = users.add("bob", "x").id
    for digest in (A, B, C):
        catalogue.register(FileRecord(digest, digest, 10, ("n1",), public=False))
    return catalogue, NamespaceStore(engine), alice, bob


@pytest.fixture
def links(engine):
    return ShareStore(engine)


def codes(call) -> str:
    with pytest.raises(AppError) as caught:
        call()
    return caught.value.code


def test_files_live_in_folders_created_on_the_way(stores):
    _catalogue, ns, alice, bob = stores
    entry = ns.put_file(alice, "/docs/2026/a.txt", A, 10, quota=0)
    assert (entry.version, entry.hash, entry.name) == (1, A, "a.txt")
    assert [e.path for e in ns.list_dir(alice, "/")] == ["/docs"]
    assert [e.path for e in ns.list_dir(alice, "/docs")] == ["/docs/2026"]
    assert ns.get(bob, "/docs") is None
    assert ns.list_dir(bob, "/") == []
    assert codes(lambda: ns.put_file(alice, "/docs/2026/a.txt/x", B, 1, 0)) == "not_a_directory"
    assert codes(lambda: ns.put_file(alice, "/docs", B, 1, 0)) == "is_a_directory"
    assert codes(lambda: ns.list_dir(alice, "/nope")) == "path_not_found"


def test_overwrite_keeps_versions_and_restore_makes_a_new_one(stores):
    _catalogue, ns, alice, _bob = stores
    ns.put_file(alice, "/f", A, 10, 0)
    ns.put_file(alice, "/f", B, 10, 0)
    assert [(v.version, v.hash) for v in ns.versions(alice, "/f")] == [(2, B), (1, A)]
    restored = ns.restore_version(alice, "/f", 1, 0)
    assert (restored.version, restored.hash) == (3, A)
    assert [v.version for v in ns.versions(alice, "/f")] == [3, 2, 1]
    assert codes(lambda: ns.restore_version(alice, "/f", 9, 0)) == "version_not_found"


def test_move_and_copy_carry_subtrees(stores):
    _catalogue, ns, alice, _bob = stores
    ns.put_file(alice, "/a/b/c.txt", A, 10, 0)
    ns.put_file(alice, "/a/b/c.txt", B, 10, 0)
    moved = ns.move(alice, "/a", "/z/a2")
    assert moved.is_dir and ns.get(alice, "/a") is None
    assert ns.get(alice, "/z/a2/b/c.txt").hash == B
    # Versions follow the move.
    assert [v.hash for v in ns.versions(alice, "/z/a2/b/c.txt")] == [B, A]
    ns.copy(alice, "/z/a2", "/copy", 0)
    assert ns.get(alice, "/copy/b/c.txt").hash == B
    assert codes(lambda: ns.move(alice, "/copy", "/z")) == "path_exists"
    assert codes(lambda: ns.move(alice, "/z", "/z/inside")) == "invalid_path"


def test_trash_and_restore_a_folder(stores):
    _catalogue, ns, alice, _bob = stores
    ns.put_file(alice, "/p/one", A, 10, 0)
    ns.put_file(alice, "/p/two", B, 10, 0)
    trash_id = ns.trash(alice, "/p")
    assert ns.get(alice, "/p") is None
    [listed] = ns.list_trash(alice)
    assert (listed["trash_id"], listed["items"], listed["size"]) == (trash_id, 3, 20)
    ns.put_file(alice, "/p/one", C, 10, 0)  # something new meanwhile
    ns.restore_trash(alice, trash_id, 0)
    assert ns.get(alice, "/p/one").hash == A and ns.get(alice, "/p/two").hash == B
    assert C in [v.hash for v in ns.versions(alice, "/p/one")]
    assert ns.list_trash(alice) == []


def test_quota_counts_versions_and_trash_and_each_content_once(stores):
    _catalogue, ns, alice, _bob = stores
    ns.put_file(alice, "/a", A, 10, quota=25)
    ns.put_file(alice, "/a", B, 10, quota=25)  # A stays, as a version
    assert ns.used_bytes(alice) == 20
    assert codes(lambda: ns.put_file(alice, "/c", C, 10, quota=25)) == "quota_exceeded"
    # Content the user keeps already costs nothing more: a copy, a restore, another path.
    ns.copy(alice, "/a", "/a2", quota=25)
    ns.restore_version(alice, "/a", 1, quota=25)
    ns.put_file(alice, "/b", B, 10, quota=25)
    assert ns.used_bytes(alice) == 20
    # The trash keeps what it holds, and restoring it is free again.
    trash_id = ns.trash(alice, "/a")
    ns.trash(alice, "/a2")
    ns.trash(alice, "/b")
    assert ns.used_bytes(alice) == 20
    assert codes(lambda: ns.put_file(alice, "/c", C, 10, quota=25)) == "quota_exceeded"
    ns.restore_trash(alice, trash_id, quota=25)
    assert ns.used_bytes(alice) == 20
    # A lower quota refuses growth only: what is kept is never taken away.
    ns.copy(alice, "/a", "/a3", quota=5)
    assert codes(lambda: ns.put_file(alice, "/c", C, 1, quota=5)) == "quota_exceeded"


def test_a_share_link_keeps_its_content_counted(stores, links):
    _catalogue, ns, _alice, bob = stores
    ns.put_file(bob, "/s", A, 10, 0)
    links.add(bob, ns.require(bob, "/s"), "f" * 64, None, None)
    ns.put_file(bob, "/s", B, 10, 0)
    ns.expire(time.time() + 1, trash_retention=0, version_retention=0)
    assert [v.hash for v in ns.versions(bob, "/s")] == [B]  # A's version is gone...
    assert ns.used_bytes(bob) == 20  # ...but the link still keeps A stored


def test_the_admin_list_shows_the_figure_the_quota_counts(stores, engine):
    _catalogue, ns, alice, bob = stores
    ns.put_file(alice, "/x", A, 10, 0)
    ns.put_file(alice, "/x", B, 10, 0)
    ns.put_file(bob, "/y", C, 10, 0)
    ns.trash(bob, "/y")
    listed = {user.name: used for user, used in UserStore(engine).list()}
    assert listed == {"alice": 20, "bob": 10}
    assert (ns.used_bytes(alice), ns.used_bytes(bob)) == (20, 10)


def test_private_content_is_collected_once_nothing_refers_to_it(stores, links):
    catalogue, ns, alice, bob = stores
    ns.put_file(alice, "/mine", A, 10, 0)
    ns.put_file(bob, "/theirs", A, 10, 0)
    ns.put_file(alice, "/old", B, 10, 0)
    ns.put_file(alice, "/old", C, 10, 0)  # B is now only a version
    share = links.add(alice, ns.require(alice, "/old"), "f" * 64, None, time.time() - 1)
    ns.trash(alice, "/mine")
    future = time.time() + 3600
    # Referenced by an entry, a version, a trash item or a share: nothing goes.
    assert catalogue.collect_files(future, 100) == []
    # Retention passes: trash, versions and expired shares go; bob still holds A.
    assert ns.expire(time.time() + 1, trash_retention=0, version_retention=0) == 3
    assert links.find("f" * 64) is None and share.hash == C
    assert catalogue.collect_files(future, 100) == [PurgedBlob(B, ("n1",))]
    assert catalogue.get(A) is not None and catalogue.get(C) is not None
    ns.trash(bob, "/theirs")
    ns.expire(time.time() + 1, 0, 0)
    assert catalogue.collect_files(future, 100) == [PurgedBlob(A, ("n1",))]


def test_collection_waits_for_the_grace_after_the_last_reference(stores):
    catalogue, ns, alice, _bob = stores
    ns.put_file(alice, "/x", A, 10, 0)
    ns.trash(alice, "/x")
    ns.expire(time.time() + 1, 0, 0)
    assert catalogue.collect_files(time.time() - 60, 100) == []
    # B and C were stored (by the fixture) but never used: they go too.
    assert [b.hash for b in catalogue.collect_files(time.time() + 1, 100)] == [A, B, C]


def test_shares_are_found_by_hash_and_revoked_by_id(stores, links):
    _catalogue, ns, alice, bob = stores
    ns.put_file(alice, "/s.txt", A, 10, 0)
    share = links.add(alice, ns.require(alice, "/s.txt"), "e" * 64, "pw-hash", None)
    assert links.find("e" * 64).hash == A
    assert [s.id for s in links.of_user(alice)] == [share.id] and links.of_user(bob) == []
    assert codes(lambda: links.revoke(bob, share.id)) == "share_not_found"
    UserStore(ns.engine).update("alice", disabled=True)
    assert links.find("e" * 64).owner_disabled is True
    UserStore(ns.engine).update("alice", disabled=False)
    assert links.find("e" * 64).owner_disabled is False
    links.revoke(alice, share.id)
    assert links.find("e" * 64) is None
    assert (
        codes(lambda: links.add(alice, ns.require(alice, "/"), "d" * 64, None, None))
        == "is_a_directory"
    )


def test_a_legacy_delete_of_content_users_hold_only_unpublishes_it(engine):
    catalogue = FileCatalogue(engine)
    ns = NamespaceStore(engine)
    user = UserStore(engine).add("carol", "x").id
    catalogue.register(FileRecord(A, "pub.txt", 10, ("n1",)))
    ns.put_file(user, "/pub.txt", A, 10, 0)
    record, purged = catalogue.delete_file(A)
    assert purged == [] and record.hash == A
    assert catalogue.get(A).public is False
    assert catalogue.list_files() == []


# A folder and a sibling that LIKE would take in: another case, or a name whose `%`, `_`
# or `\` a pattern would read as a wildcard or an escape.
SIBLINGS = [
    ("/Docs", "/docs/b.txt"),
    ("/a_c", "/abc/b.txt"),
    ("/a%", "/aXYZ/b.txt"),
    ("/b\\", "/b/b.txt"),
    ("/c\\%", "/c%/b.txt"),
]


@pytest.mark.parametrize(("folder", "sibling"), SIBLINGS)
def test_folder_operations_take_exactly_their_subtree(stores, folder, sibling):
    _catalogue, ns, alice, _bob = stores
    ns.put_file(alice, f"{folder}/a.txt", A, 10, 0)
    ns.put_file(alice, sibling, B, 10, 0)
    ns.put_file(alice, sibling, C, 10, 0)  # and a version of it

    ns.copy(alice, folder, "/copied", 0)
    assert [e.path for e in ns.list_dir(alice, "/copied")] == ["/copied/a.txt"]
    ns.move(alice, folder, "/moved")
    assert [e.path for e in ns.list_dir(alice, "/moved")] == ["/moved/a.txt"]
    assert ns.get(alice, sibling).hash == C
    assert [v.hash for v in ns.versions(alice, sibling)] == [C, B]
    ns.move(alice, "/moved", folder)

    ns.trash(alice, folder)
    [trashed] = ns.list_trash(alice)
    assert (trashed["items"], trashed["size"]) == (2, 10)
    assert ns.get(alice, sibling).hash == C
    assert ns.get(alice, f"{folder}/a.txt") is None


def test_a_share_is_revoked_by_its_exact_id_only(stores, links):
    _catalogue, ns, alice, _bob = stores
    ns.put_file(alice, "/s.txt", A, 10, 0)
    share = links.add(alice, ns.require(alice, "/s.txt"), "ab" * 32, None, None)
    assert codes(lambda: links.revoke(alice, share.id.upper())) == "share_not_found"
    assert codes(lambda: links.revoke(alice, "a_" * 8)) == "share_not_found"
    links.revoke(alice, share.id)
    assert links.find("ab" * 32) is None
