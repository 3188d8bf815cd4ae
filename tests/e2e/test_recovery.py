"""A master whose data directory is deleted is rebuilt from its nodes (#20, fault 6): the
reference API's files and the large files' manifests from the nodes' inventories, the
user trees from the latest snapshot, with no operator; and ``mdbx admin recover``,
``backup`` and ``restore``."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.userfiles.cursors import PREFIX as CURSOR_PREFIX
from localcluster.launcher import Cluster, wait_until
from tests.e2e.test_accounts import User, add_user
from tests.support.api import get_json, upload
from tests.support.cli import mdbx
from tests.support.postgres import postgres_schema

TIMEOUT = 30
MIB = 1024 * 1024
FAST = {"MDBX_SNAPSHOT_INTERVAL": "0", "MDBX_RECOVERY_WAIT": "10", "MDBX_SYNC_INTERVAL": "0.5"}


def recovered(master: str) -> dict:
    """The report of the recovery that ended, once none is under way."""

    def done() -> dict | None:
        status = get_json(master, "/admin/recover")
        return None if status["recovering"] or status["last"] is None else status["last"]

    return wait_until(done, 30)


def position_of(cursor: str) -> int:
    """The feed position a cursor of ``/api/changes`` holds."""
    body = cursor[len(CURSOR_PREFIX) :]
    return int(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))[1])


def healthy(master: str) -> bool:
    health = get_json(master, "/cluster/health")
    return health["blobs"] > 0 and health["healthy"] == health["blobs"]


def download(master: str, digest: str) -> bytes:
    reply = requests.get(f"{master}/download", params={"hash": digest}, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    return reply.content


def test_deleted_master_data_dir_is_rebuilt_from_the_nodes(spawn, tmp_path):
    cluster: Cluster = spawn(nodes=2, env=FAST)
    master = cluster.master.url

    # The reference API: a small file (one blob) and a large one (a manifest of 3 blocks).
    small = os.urandom(1000)
    small_hash = upload(master, small, "small.bin")["hash"]
    large = os.urandom(9 * MIB + 7)
    reply = requests.put(f"{master}/upload/large.bin", data=large, timeout=TIMEOUT)
    assert reply.status_code == 200 and reply.json()["blocks"] == 3, reply.text
    large_hash = reply.json()["hash"]

    # A user's tree: files small and large, a folder, versions, trash, a share link.
    alice = add_user(master, "alice")
    note = b"the quarterly report\n"
    big = os.urandom(5 * MIB + 3)
    alice.put("/docs/note.txt", note)
    alice.put("/docs/big.bin", big)
    alice.put("/versions.txt", b"one\n")
    alice.put("/versions.txt", b"two\n")
    alice.put("/old.txt", b"thrown away\n")
    assert alice.call("DELETE", "/api/files/old.txt").status_code == 200
    assert alice.call("POST", "/api/mkdir", json={"path": "/empty"}).status_code == 200
    link = alice.call("POST", "/api/shares", json={"path": "/docs/note.txt"}).json()
    recovered(master)  # a new cluster's own start (nothing to find) ends before a snapshot

    backup = mdbx("admin", "backup", "--json", "--out", str(tmp_path / "snap.db.gz"), master=master)
    assert backup.returncode == 0, backup.stderr
    snapshot = json.loads(backup.stdout)
    assert len(snapshot["copies"]) == 2
    saved = (tmp_path / "snap.db.gz").read_bytes()
    assert hashlib.sha256(saved).hexdigest() == snapshot["hash"]
    # Its password hashes are the cluster's: a node serves it to no one else.
    unsigned = requests.get(
        f"{cluster.nodes[0].url}/retrieve", params={"hash": snapshot["hash"]}, timeout=TIMEOUT
    )
    assert unsigned.status_code == 404
    # After the snapshot: a large file only its manifest on the nodes brings back.
    later = os.urandom(4 * MIB + 1)
    reply = requests.put(f"{master}/upload/later.bin", data=later, timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    later_hash = reply.json()["hash"]

    cluster.master.stop()
    shutil.rmtree(cluster.master.data_dir)
    cluster.master.start()

    report = recovered(master)
    assert report["snapshot"]["hash"] == snapshot["hash"] and report["restored"] is True
    assert report["manifests"] >= 3 and report["users"] == 1 and report["entries"] >= 5
    for digest, data in ((small_hash, small), (large_hash, large), (later_hash, later)):
        assert download(master, digest) == data
    listed = {f["hash"]: f["name"] for f in get_json(master, "/list")}
    assert listed[large_hash] == "large.bin" and listed[later_hash] == "later.bin"

    again = User(master, "alice", "pw-alice-123")  # the password works: the account is back
    assert again.get("/docs/note.txt").content == note
    assert again.get("/docs/big.bin").content == big
    names = {
        e["name"] for e in again.call("GET", "/api/list", params={"path": "/"}).json()["entries"]
    }
    assert {"docs", "versions.txt", "empty"} <= names
    versions = again.call("GET", "/api/versions", params={"path": "/versions.txt"}).json()
    assert [v["version"] for v in versions["versions"]] == [2, 1]
    assert [t["path"] for t in again.call("GET", "/api/trash").json()["trash"]] == ["/old.txt"]
    shared = requests.get(link["url"], timeout=TIMEOUT)
    assert shared.status_code == 200 and shared.content == note
    wait_until(lambda: healthy(master), 30)
    kept = mdbx("admin", "backup", "--list", "--json", master=master)
    assert kept.returncode == 0, kept.stderr
    assert snapshot["hash"] in [s["hash"] for s in json.loads(kept.stdout)]

    # On demand: the same, reported by the CLI (the trees are there: not restored again).
    found = mdbx("admin", "recover", "--json", master=master, timeout=120)
    assert found.returncode == 0, found.stderr
    again_report = json.loads(found.stdout)
    assert again_report["restored"] is False and again_report["users"] == 1
    assert again_report["files"] == report["files"]

    # restore FILE: the trees as saved (alice's later change undone).
    again.put("/docs/note.txt", b"changed after the backup\n")
    restored = mdbx("admin", "restore", str(tmp_path / "snap.db.gz"), "--json", master=master)
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["users"] == 1
    assert User(master, "alice", "pw-alice-123").get("/docs/note.txt").content == note


def test_changes_made_after_the_last_snapshot_come_back_from_the_journal(spawn):
    """A private file written, an account made or changed, a folder made, a file moved,
    copied or deleted after the last snapshot lives only in the master's database; its
    journal record on the nodes (``app.master.journal``) brings it back when the master
    is rebuilt, over the snapshot restored, in order.

    With 64 KiB blocks, the snapshot of 200 more files is larger than a block: it is
    stored as blocks and their manifest, which is all a rebuilt master has of it."""
    block = 64 * 1024
    cluster: Cluster = spawn(nodes=2, env={**FAST, "MDBX_BLOCK_SIZE": str(block)})
    master = cluster.master.url
    alice = add_user(master, "alice")
    alice.put("/before.txt", b"in the snapshot\n")
    alice.put("/changed.txt", b"first, in the snapshot\n")
    alice.put("/doomed.txt", b"deleted after the snapshot\n")
    many = [secrets.token_hex(40) for _ in range(200)]
    batch = alice.call(
        "POST",
        "/api/batch",
        params={"dir": "/many"},
        files=[(name, (name, name.encode())) for name in many],
    )
    assert batch.status_code == 200, batch.text
    kept = alice.call("POST", "/api/shares", json={"path": "/changed.txt"}).json()
    recovered(master)
    # No snapshot yet: nothing to replay over, so nothing journaled.
    assert get_json(master, "/cluster/health")["blobs"] == 3 + len(many)
    taken = requests.post(f"{master}/admin/snapshots", timeout=TIMEOUT)
    assert taken.status_code == 200, taken.text
    snapshot = taken.json()
    assert snapshot["size"] > block and snapshot["blocks"] > 1 and snapshot["manifest"]

    small = os.urandom(3000)
    large = os.urandom(5 * block + 11)  # a manifest of blocks
    alice.put("/after/small.bin", small)
    alice.put("/after/large.bin", large)
    alice.put("/changed.txt", b"second, after the snapshot\n")
    batch = alice.call(
        "POST",
        "/api/batch",
        params={"dir": "/batch"},
        files=[("one.txt", ("one.txt", b"batch one\n")), ("two.txt", ("two.txt", b"batch two\n"))],
    )
    assert batch.status_code == 200, batch.text
    # An account made since, with files; an account changed since (its quota).
    bob = add_user(master, "bob", quota_bytes=MIB)
    bob.put("/mine/bob.txt", b"bob's, after the snapshot\n")
    changed = requests.patch(
        f"{master}/api/admin/users/alice", json={"quota_bytes": 64 * MIB}, timeout=TIMEOUT
    )
    assert changed.status_code == 200, changed.text
    # The tree's shape since: a folder made, a file moved, one copied, one deleted.
    for call, body in (
        ("/api/mkdir", {"path": "/made/deeper"}),
        ("/api/move", {"from": "/before.txt", "to": "/moved/before.txt"}),
        ("/api/copy", {"from": "/after/small.bin", "to": "/copied/small.bin"}),
    ):
        reply = alice.call("POST", call, json=body)
        assert reply.status_code == 200, (call, reply.text)
    assert alice.call("DELETE", "/api/files/doomed.txt").status_code == 200
    alice.put("/scratch.txt", b"deleted for good after the snapshot\n")
    scratch = alice.call("DELETE", "/api/files/scratch.txt").json()["trash_id"]
    assert alice.call("DELETE", f"/api/trash/{scratch}").json()["purged"] == 1
    # A share link made since, and the snapshot's one revoked since.
    link = alice.call("POST", "/api/shares", json={"path": "/after/small.bin"}).json()
    assert alice.call("DELETE", f"/api/shares/{kept['token']}").status_code == 200
    # Writes at once: their records share blobs (a group commit), each replayed.
    at_once = {f"/at-once/{n}.txt": os.urandom(100 + n) for n in range(8)}

    def put_alone(path: str, data: bytes) -> int:
        url = f"{master}/api/files{path}"
        return requests.put(url, data=data, headers=alice.http.headers, timeout=TIMEOUT).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(put_alone, at_once, at_once.values())) == [200] * 8
    given = alice.call("GET", "/api/changes/latest").json()["cursor"]

    cluster.master.stop()
    shutil.rmtree(cluster.master.data_dir)
    cluster.master.start()

    report = recovered(master)
    assert report["restored"] is True and report["snapshot"]["hash"] == snapshot["hash"], report
    journaled = report["journal"]
    assert journaled["unreadable"] == 0 and journaled["records"] == 24, report
    assert journaled["files_put"] == 15 and journaled["accounts"] == 2, report
    assert (journaled["shares"], journaled["unshared"]) == (1, 1), report
    kinds = ("folders", "moves", "copies", "trashed", "purged", "skipped")
    assert [journaled[kind] for kind in kinds] == [1, 1, 1, 2, 1, 0], report
    # bob logs in with his password (its hash came back), his file with him.
    assert User(master, "bob", "pw-bob-123").get("/mine/bob.txt").content == (
        b"bob's, after the snapshot\n"
    )
    quotas = {u["name"]: u["quota_bytes"] for u in get_json(master, "/api/admin/users")["users"]}
    assert quotas == {"alice": 64 * MIB, "bob": MIB}, quotas
    again = User(master, "alice", "pw-alice-123")
    for path, data in (
        ("/moved/before.txt", b"in the snapshot\n"),
        ("/after/small.bin", small),
        ("/copied/small.bin", small),
        ("/after/large.bin", large),
        ("/changed.txt", b"second, after the snapshot\n"),
        ("/batch/one.txt", b"batch one\n"),
        ("/batch/two.txt", b"batch two\n"),
        *at_once.items(),
        (f"/many/{many[0]}", many[0].encode()),
        (f"/many/{many[-1]}", many[-1].encode()),
    ):
        reply = again.get(path)
        assert reply.status_code == 200 and reply.content == data, (path, reply.status_code)
    versions = again.call("GET", "/api/versions", params={"path": "/changed.txt"}).json()
    assert len(versions["versions"]) == 2, versions
    for gone in ("/before.txt", "/doomed.txt", "/scratch.txt"):
        assert again.get(gone).status_code == 404, gone
    assert [t["path"] for t in again.call("GET", "/api/trash").json()["trash"]] == ["/doomed.txt"]
    made_dir = again.call("GET", "/api/list", params={"path": "/made/deeper"})
    assert made_dir.status_code == 200 and made_dir.json()["entries"] == [], made_dir.text
    shared = requests.get(link["url"], timeout=TIMEOUT)
    assert shared.status_code == 200 and shared.content == small
    assert requests.get(kept["url"], timeout=TIMEOUT).status_code == 404
    # The feed goes on past every position the old master gave (the snapshot's heads, the
    # journal's): a cursor of the old feed lists the tree again, and means nothing new.
    expired = again.call("GET", "/api/changes", params={"cursor": given})
    assert expired.status_code == 410, expired.text
    assert expired.json()["error"]["code"] == "cursor_expired"
    now = again.call("GET", "/api/changes/latest").json()["cursor"]
    assert position_of(now) > position_of(given), (now, given)
    # The journal is kept while it is needed: a rebuilt master's next snapshot has it all.
    wait_until(lambda: healthy(master), 30)
    assert requests.post(f"{master}/admin/snapshots", timeout=TIMEOUT).status_code == 200
    # The snapshot the nodes brought back is kept, blocks and all: it still reads whole.
    saved = requests.get(f"{master}/admin/snapshots/{snapshot['hash']}", timeout=TIMEOUT)
    assert (
        saved.status_code == 200 and hashlib.sha256(saved.content).hexdigest() == snapshot["hash"]
    )


@pytest.mark.postgres
def test_a_master_on_an_empty_postgresql_database_is_rebuilt_from_the_nodes(spawn):
    """The same recovery with the catalogue on PostgreSQL: the master is started again on
    an empty database (its schema lost), and the snapshot's rows, their sequences and
    the journal replayed over them make a tree that takes new writes."""
    with postgres_schema() as database, postgres_schema() as empty:
        cluster: Cluster = spawn(nodes=2, env={**FAST, "MDBX_METADATA_URL": database})
        master = cluster.master.url
        public = os.urandom(2000)
        public_hash = upload(master, public, "public.bin")["hash"]
        alice = add_user(master, "alice")
        alice.put("/docs/note.txt", b"one\n")
        alice.put("/docs/note.txt", b"two\n")
        recovered(master)
        taken = requests.post(f"{master}/admin/snapshots", timeout=TIMEOUT)
        assert taken.status_code == 200, taken.text
        later = os.urandom(5 * MIB + 1)
        alice.put("/later/large.bin", later)
        alice.put("/docs/note.txt", b"three, after the snapshot\n")

        cluster.master.stop()
        cluster.master.env["MDBX_METADATA_URL"] = empty
        cluster.master.start()

        report = recovered(master)
        assert report["restored"] is True and report["users"] == 1, report
        assert report["journal"]["files_put"] == 2, report
        assert download(master, public_hash) == public
        again = User(master, "alice", "pw-alice-123")
        assert again.get("/later/large.bin").content == later
        assert again.get("/docs/note.txt").content == b"three, after the snapshot\n"
        versions = again.call("GET", "/api/versions", params={"path": "/docs/note.txt"}).json()
        assert [v["version"] for v in versions["versions"]] == [3, 2, 1], versions
        # The sequences were set past the rows restored: new accounts and versions go on.
        again.put("/docs/note.txt", b"four\n")
        bob = add_user(master, "bob")
        bob.put("/mine.txt", b"bob's\n")
        assert bob.get("/mine.txt").content == b"bob's\n"
        assert again.get("/docs/note.txt").content == b"four\n"
        wait_until(lambda: healthy(master), 30)
