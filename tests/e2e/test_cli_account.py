"""``mdbx`` on a user's own tree (``/api/``) against a real cluster: the installed console
script as a shell runs it, one login per test in its own config directory."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import requests

from app.client.account_client import AccountClient
from app.client.api import Client
from tests.support.cli import MIB, StopAfter, assert_clean_failure, mdbx

TIMEOUT = 10
PASSWORD = "correct horse battery"


class User:
    """One account, logged in through ``mdbx login`` with its own token file."""

    def __init__(self, master, config_dir, name):
        self.master = master
        self.env = {"XDG_CONFIG_HOME": str(config_dir)}
        self.name = name

    def run(self, *args, input=None, timeout=120, cwd=None):
        return mdbx(*args, master=self.master, env=self.env, input=input, timeout=timeout, cwd=cwd)

    def ok(self, *args, **kwargs):
        result = self.run(*args, **kwargs)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def json(self, *args, **kwargs):
        return json.loads(self.ok("--json", *args, **kwargs).stdout)


@pytest.fixture
def user(module_cluster, tmp_path, request):
    name = "u" + hashlib.sha256(request.node.name.encode()).hexdigest()[:10]
    someone = User(module_cluster.master.url, tmp_path / "config", name)
    someone.ok("admin", "user", "add", name, "--password-stdin", input=PASSWORD + "\n")
    someone.ok("login", name, "--password-stdin", input=PASSWORD + "\n")
    return someone


def make_tree(root):
    """A folder with a nested file, an empty folder and a file over the 8 MiB chunk."""
    files = {
        "notes.txt": b"first line\n",
        "sub/deep.bin": os.urandom(70_000),
        "big.bin": os.urandom(20 * MIB + 12_345),
    }
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "empty").mkdir()
    return files


def test_without_login_an_account_command_says_how_to_log_in(module_cluster, tmp_path):
    stranger = User(module_cluster.master.url, tmp_path / "config", "nobody")
    for args in (["ls"], ["quota"], ["put", __file__, "/x"], ["trash"]):
        result = stranger.run(*args)
        assert_clean_failure(result, 2)
        assert "mdbx login" in result.stderr
    # A token the master does not take (revoked, or never issued) says so too.
    forged = mdbx(
        "ls", master=module_cluster.master.url, env={**stranger.env, "MDBX_TOKEN": "x" * 40}
    )
    assert_clean_failure(forged, 2)
    assert "mdbx login" in forged.stderr


def test_put_a_tree_list_it_and_get_it_back_byte_identical(user, tmp_path):
    local = tmp_path / "photos"
    local.mkdir()
    files = make_tree(local)

    report = user.json("put", str(local), "/backup", timeout=180)
    assert report["failed"] == []
    stored = {u["path"]: u for u in report["uploaded"]}
    assert set(stored) == {f"/backup/photos/{rel}" for rel in files}
    for rel, data in files.items():
        assert stored[f"/backup/photos/{rel}"]["size"] == len(data)
        assert stored[f"/backup/photos/{rel}"]["hash"] == hashlib.sha256(data).hexdigest()

    listing = user.json("ls", "/backup/photos")
    assert listing["path"] == "/backup/photos"
    shown = {e["name"]: e for e in listing["entries"]}
    assert set(shown) == {"big.bin", "empty", "notes.txt", "sub"}
    assert shown["empty"]["is_dir"] and shown["sub"]["is_dir"]
    assert shown["big.bin"]["size"] == len(files["big.bin"])
    plain = user.ok("ls", "/backup/photos").stdout.split()
    assert plain == ["empty/", "sub/", "big.bin", "notes.txt"]
    long = user.ok("ls", "-l", "/backup/photos").stdout
    assert "20.0 MiB" in long and "v1" in long

    one = tmp_path / "big-back.bin"
    got = user.json("get", "/backup/photos/big.bin", str(one), timeout=180)
    assert got["bytes"] == len(files["big.bin"])
    assert one.read_bytes() == files["big.bin"]
    again = user.run("get", "/backup/photos/big.bin", str(one))
    assert_clean_failure(again, 1)  # no overwrite without --force

    back = tmp_path / "restored"
    back.mkdir()
    user.ok("get", "/backup/photos", str(back), timeout=180)
    for rel, data in files.items():
        assert (back / "photos" / rel).read_bytes() == data
    assert (back / "photos" / "empty").is_dir()
    assert not list(back.rglob("*.part"))

    everything = tmp_path / "everything"
    everything.mkdir()
    user.ok("get", "/", str(everything), timeout=180)  # the whole tree, into files/
    assert (everything / "files" / "backup" / "photos" / "notes.txt").read_bytes() == files[
        "notes.txt"
    ]


def test_mv_cp_rm_trash_restore_and_versions(user, tmp_path):
    first, second = tmp_path / "draft.txt", tmp_path / "v2" / "draft.txt"
    first.write_bytes(b"version one\n")
    second.parent.mkdir()
    second.write_bytes(b"version two, longer\n")
    user.ok("mkdir", "/work/drafts")
    user.ok("put", str(first), "/work")
    user.ok("put", str(second), "/work")

    found = user.json("versions", "/work/draft.txt")
    assert sorted(v["size"] for v in found) == [12, 20]
    old = next(v for v in found if v["size"] == 12)
    restored = user.json("restore", "/work/draft.txt", "--version", str(old["version"]))
    assert restored["size"] == 12
    user.ok("get", "/work/draft.txt", str(tmp_path / "now.txt"))
    assert (tmp_path / "now.txt").read_bytes() == b"version one\n"

    moved = user.json("mv", "/work/draft.txt", "/work/drafts/final.txt")
    assert moved["path"] == "/work/drafts/final.txt"
    copied = user.json("cp", "/work/drafts", "/work/copy")
    assert copied["path"] == "/work/copy" and copied["is_dir"]
    assert [e["name"] for e in user.json("ls", "/work/copy")["entries"]] == ["final.txt"]

    deleted = user.json("rm", "/work/drafts")
    assert deleted[0]["path"] == "/work/drafts"
    gone = user.run("ls", "/work/drafts")
    assert_clean_failure(gone, 3)
    trash = user.json("trash")
    item = next(t for t in trash if t["path"] == "/work/drafts")
    assert item["is_dir"] and item["trash_id"] == deleted[0]["trash_id"]
    user.ok("restore", item["trash_id"])
    assert [e["name"] for e in user.json("ls", "/work/drafts")["entries"]] == ["final.txt"]
    assert all(t["trash_id"] != item["trash_id"] for t in user.json("trash"))


def test_share_with_password_then_unshare(user, tmp_path):
    secret = os.urandom(5_000)
    (tmp_path / "secret.bin").write_bytes(secret)
    user.ok("put", str(tmp_path / "secret.bin"), "/shared")

    made = user.json(
        "share", "/shared/secret.bin", "--expires", "7d", "--password-stdin", input="opensesame\n"
    )
    assert made["password"] is True and made["expires_at"] is not None
    assert made["url"].startswith("http")
    refused = requests.get(made["url"], timeout=TIMEOUT)
    assert refused.status_code in (401, 403)
    fetched = requests.get(made["url"], headers={"X-Share-Password": "opensesame"}, timeout=TIMEOUT)
    assert fetched.status_code == 200 and fetched.content == secret

    listed = user.json("shares")
    assert [s["path"] for s in listed] == ["/shared/secret.bin"]
    assert "opensesame" not in json.dumps(listed)
    assert user.ok("shares").stdout.count("/shared/secret.bin") == 1
    user.ok("unshare", listed[0]["id"])
    assert user.json("shares") == []
    assert requests.get(made["url"], timeout=TIMEOUT).status_code == 404
    assert_clean_failure(user.run("unshare", listed[0]["id"]), 3)

    bad = user.run("share", "/shared/secret.bin", "--expires", "soon")
    assert_clean_failure(bad, 2)


def test_quota_and_not_found(user, tmp_path):
    (tmp_path / "a.bin").write_bytes(b"x" * 3000)
    user.ok("put", str(tmp_path / "a.bin"))
    account = user.json("quota")
    assert account["name"] == user.name and account["used_bytes"] == 3000
    assert "2.9 KiB" in user.ok("quota").stdout

    for args in (["ls", "/nope"], ["get", "/nope.txt"], ["rm", "/nope"], ["versions", "/nope"]):
        missing = user.run(*args, cwd=tmp_path)
        assert_clean_failure(missing, 3)
        assert "nope" in missing.stderr
    assert not (tmp_path / "nope.txt").exists()


def test_an_interrupted_large_put_goes_on_from_the_chunks_stored(user, tmp_path, monkeypatch):
    data = os.urandom(30 * MIB)
    path = tmp_path / "huge.bin"
    path.write_bytes(data)
    # The library as `mdbx put` runs it, with this user's token and config dir, stopped
    # (as by Ctrl+C) in its third chunk of 8 MiB.
    monkeypatch.setenv("XDG_CONFIG_HOME", user.env["XDG_CONFIG_HOME"])
    client = Client(user.master)
    try:
        with pytest.raises(KeyboardInterrupt):
            AccountClient(client).upload(path, "/big/huge.bin", progress=StopAfter(20 * MIB))
    finally:
        client.close()
    assert_clean_failure(user.run("ls", "/big/huge.bin"), 3)  # nothing under its name yet

    report = user.json("put", str(path), "/big")
    stored = report["uploaded"][0]
    # At least the two whole chunks; the master keeps what arrived of the third as well.
    assert 16 * MIB <= stored["resumed_from"] < len(data)
    assert stored["hash"] == hashlib.sha256(data).hexdigest()
    user.ok("get", "/big/huge.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data

    # Done, the record is gone: the same put again resumes nothing, and sends no block
    # (its blocks are those of the file at that path), only the plan.
    again = user.json("put", str(path), "/big")
    assert "resumed_from" not in again["uploaded"][0] and again["bytes_sent"] < 4096
    assert again["uploaded"][0]["hash"] == stored["hash"]


def test_a_large_put_over_a_file_sends_only_the_changed_block(user, tmp_path):
    block = 4 * MIB
    data = bytearray(os.urandom(6 * block + 12_345))
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    first = user.json("put", str(local), "/media")
    assert first["bytes_sent"] == len(data)
    data[3 * block + 100 : 3 * block + 200] = os.urandom(100)
    local.write_bytes(data)
    second = user.json("put", str(local), "/media")
    # One block and the plan's line of JSON, not 24 MiB.
    assert block < second["bytes_sent"] < block + 4096
    stored = second["uploaded"][0]
    assert stored["version"] == first["uploaded"][0]["version"] + 1
    assert stored["hash"] == hashlib.sha256(data).hexdigest()
    user.ok("get", "/media/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == bytes(data)
    # The human line says how little travelled.
    data[100:200] = os.urandom(100)
    local.write_bytes(data)
    assert "4.0 MiB sent" in user.ok("put", str(local), "/media").stdout
