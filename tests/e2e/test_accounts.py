"""Accounts end to end: two users on a real cluster, private content, dedup, versions,
trash, share links, garbage collection, quotas, and the `mdbx login` / `mdbx admin` CLI."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time

import pytest
import requests

from localcluster.launcher import Cluster, wait_until
from tests.support.api import blob_path, get_json
from tests.support.cli import mdbx

TIMEOUT = 60
FAST_GC = {
    # Not 0: content is stored, then named in a user's tree a moment later, and a pass
    # between the two would collect it (the grace period is what covers that moment).
    "MDBX_GC_GRACE": "2",
    "MDBX_REPAIR_INTERVAL": "0.3",
    "MDBX_TRASH_RETENTION": "1",
}


class User:
    """A logged-in user of the per-user API."""

    def __init__(self, master: str, name: str, password: str) -> None:
        self.master = master
        self.http = requests.Session()
        token = self.http.post(
            f"{master}/api/login", json={"username": name, "password": password}, timeout=TIMEOUT
        ).json()["token"]
        self.http.headers["Authorization"] = f"Bearer {token}"

    def put(self, path: str, data: bytes) -> dict:
        reply = self.http.put(f"{self.master}/api/files{path}", data=data, timeout=TIMEOUT)
        assert reply.status_code == 200, reply.text
        return reply.json()

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(f"{self.master}/api/files{path}", timeout=TIMEOUT, **kwargs)

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, f"{self.master}{path}", timeout=TIMEOUT, **kwargs)


def add_user(master: str, name: str, **extra) -> User:
    password = f"pw-{name}-123"
    reply = requests.post(
        f"{master}/api/admin/users",
        json={"username": name, "password": password, **extra},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200, reply.text
    return User(master, name, password)


def copies_on_disk(cluster: Cluster, digest: str) -> int:
    return sum(blob_path(node, digest).is_file() for node in cluster.nodes)


@pytest.fixture(scope="module")
def accounts_cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("accounts"), env=FAST_GC).start(nodes=2)
    yield cluster
    cluster.kill()


def test_two_users_with_overlapping_content(accounts_cluster):
    cluster = accounts_cluster
    master = cluster.master.url
    alice, bob = add_user(master, "alice"), add_user(master, "bob")
    shared = os.urandom(50_000)
    digest = hashlib.sha256(shared).hexdigest()
    assert alice.put("/photos/same.jpg", shared)["hash"] == digest
    assert bob.put("/mine/copy.jpg", shared)["hash"] == digest
    alice.put("/photos/only-alice.txt", b"alice's secret\n")

    # Each sees only their own tree; nobody reaches content by its hash.
    listed = alice.call("GET", "/api/list", params={"path": "/photos"}).json()["entries"]
    assert [e["name"] for e in listed] == ["only-alice.txt", "same.jpg"]
    assert bob.call("GET", "/api/list").json()["entries"][0]["name"] == "mine"
    assert bob.get("/photos/only-alice.txt").status_code == 404
    assert (
        requests.get(f"{master}/get", params={"hash": digest}, timeout=TIMEOUT).status_code == 404
    )
    assert requests.get(f"{master}/list", timeout=TIMEOUT).json() == []
    # Deduplicated: one blob, stored R times, not once per user.
    assert copies_on_disk(cluster, digest) == 2
    assert sum(get_json(n.url, "/health")["files"] for n in cluster.nodes) == 4

    # Alice deletes (and her trash expires): bob's file is intact, the blob stays.
    alice.call("DELETE", "/api/files/photos/same.jpg")
    wait_until(lambda: alice.call("GET", "/api/trash").json()["trash"] == [], 15)
    time.sleep(1)  # a few more collection passes
    assert copies_on_disk(cluster, digest) == 2
    assert bob.get("/mine/copy.jpg").content == shared
    # Bob deletes too: the last reference goes, and so does every copy.
    bob.call("DELETE", "/api/files/mine")
    wait_until(lambda: copies_on_disk(cluster, digest) == 0, 20)
    assert alice.get("/photos/only-alice.txt").content == b"alice's secret\n"


def test_folder_operations_are_case_sensitive(accounts_cluster):
    """The issue's case: deleting /Docs took /docs/b.txt with it (SQLite's LIKE)."""
    user = add_user(accounts_cluster.master.url, "olga")
    user.put("/Docs/a.txt", b"upper\n")
    user.put("/docs/b.txt", b"lower\n")
    assert user.call("POST", "/api/copy", json={"from": "/Docs", "to": "/Src"}).status_code == 200
    assert user.call("POST", "/api/move", json={"from": "/Src", "to": "/Dst"}).status_code == 200
    listed = user.call("GET", "/api/list", params={"path": "/Dst"}).json()["entries"]
    assert [e["path"] for e in listed] == ["/Dst/a.txt"]
    assert user.call("DELETE", "/api/files/Docs").status_code == 200
    [trashed] = user.call("GET", "/api/trash").json()["trash"]
    assert (trashed["path"], trashed["items"], trashed["size"]) == ("/Docs", 2, 6)
    assert user.get("/docs/b.txt").content == b"lower\n"
    assert user.get("/Docs/a.txt").status_code == 404


def test_versions_restore_and_large_files_with_range(accounts_cluster):
    alice = add_user(accounts_cluster.master.url, "carol")
    assert alice.put("/notes.txt", b"first\n")["version"] == 1
    assert alice.put("/notes.txt", b"second\n")["version"] == 2
    versions = alice.call("GET", "/api/versions", params={"path": "/notes.txt"}).json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    restored = alice.call("POST", "/api/restore", json={"path": "/notes.txt", "version": 1})
    assert restored.json()["version"] == 3
    assert alice.get("/notes.txt").content == b"first\n"

    big = os.urandom(9 * 1024 * 1024 + 5)  # three blocks
    stored = alice.put("/big.bin", big)
    assert stored["size"] == len(big)
    whole = alice.get("/big.bin")
    assert whole.status_code == 200 and whole.content == big
    edge = 4 * 1024 * 1024
    part = alice.get("/big.bin", headers={"Range": f"bytes={edge - 3}-{edge + 2}"})
    assert part.status_code == 206 and part.content == big[edge - 3 : edge + 3]


def test_share_links(accounts_cluster):
    master = accounts_cluster.master.url
    owner = add_user(master, "dave")
    owner.put("/report.pdf", b"%PDF-1.7 quarterly\n")
    link = owner.call("POST", "/api/shares", json={"path": "/report.pdf"}).json()
    assert len(link["token"]) >= 43  # 256 bits, URL-safe base64
    anonymous = requests.get(link["url"], timeout=TIMEOUT)
    assert anonymous.status_code == 200 and anonymous.content == b"%PDF-1.7 quarterly\n"
    ranged = requests.get(link["url"], headers={"Range": "bytes=0-3"}, timeout=TIMEOUT)
    assert ranged.status_code == 206 and ranged.content == b"%PDF"

    locked = owner.call(
        "POST", "/api/shares", json={"path": "/report.pdf", "password": "open sesame"}
    ).json()
    assert requests.get(locked["url"], timeout=TIMEOUT).status_code == 401
    wrong = requests.get(locked["url"], params={"password": "guess"}, timeout=TIMEOUT)
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "wrong_password"
    right = requests.get(
        locked["url"], headers={"X-Share-Password": "open sesame"}, timeout=TIMEOUT
    )
    assert right.status_code == 200

    brief = owner.call("POST", "/api/shares", json={"path": "/report.pdf", "expires_in": 1}).json()
    assert requests.get(brief["url"], timeout=TIMEOUT).status_code == 200
    time.sleep(1.2)
    expired = requests.get(brief["url"], timeout=TIMEOUT)
    assert expired.status_code in (404, 410)  # 410 until the collector removes it

    listed = owner.call("GET", "/api/shares").json()["shares"]
    assert link["id"] in [s["id"] for s in listed]
    assert "token" not in listed[0]  # only hashes are stored
    assert owner.call("DELETE", f"/api/shares/{link['token']}").status_code == 200
    revoked = requests.get(link["url"], timeout=TIMEOUT)
    assert revoked.status_code == 404 and revoked.json()["error"]["code"] == "share_not_found"
    assert requests.get(f"{master}/s/{'x' * 43}", timeout=TIMEOUT).status_code == 404


def test_quota_counts_each_content_a_user_keeps_once(accounts_cluster):
    user = add_user(accounts_cluster.master.url, "erin", quota_bytes=1000)
    user.put("/a.bin", b"x" * 600)
    over = user.call("PUT", "/api/files/b.bin", data=b"y" * 600)
    assert over.status_code == 507 and over.json()["error"]["code"] == "quota_exceeded"
    assert user.put("/a.bin", b"z" * 300)["size"] == 300  # the 600 bytes stay, as a version
    copied = user.call("POST", "/api/copy", json={"from": "/a.bin", "to": "/c.bin"})
    assert copied.status_code == 200  # the same content again: nothing more is stored
    assert user.call("GET", "/api/account").json()["used_bytes"] == 900


def test_cli_admin_and_login(accounts_cluster, tmp_path):
    master = accounts_cluster.master.url
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    added = mdbx(
        "--json",
        "admin",
        "user",
        "add",
        "frank",
        "--password-stdin",
        "--quota",
        "5000",
        master=master,
        input="correct horse\n",
        env=env,
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)[0]["quota_bytes"] == 5000
    listed = mdbx("--json", "admin", "user", "list", master=master, env=env)
    assert "frank" in [u["name"] for u in json.loads(listed.stdout)]

    bad = mdbx("login", "frank", "--password-stdin", master=master, input="wrong\n", env=env)
    assert bad.returncode == 1 and "wrong username or password" in bad.stderr
    good = mdbx(
        "login", "frank", "--password-stdin", master=master, input="correct horse\n", env=env
    )
    assert good.returncode == 0, good.stderr
    token_file = tmp_path / "config" / "mdbx" / "tokens.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = json.loads(token_file.read_text())[master]
    account = requests.get(
        f"{master}/api/account", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )
    assert account.json()["name"] == "frank"

    # Loopback in open mode is the operator's machine: allowed whoever is logged in.
    assert mdbx("admin", "user", "disable", "frank", master=master, env=env).returncode == 0
    gone = requests.get(
        f"{master}/api/account", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    )
    assert gone.status_code == 401
