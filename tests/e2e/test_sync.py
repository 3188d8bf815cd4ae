"""``mdbx sync``: two clients (two folders) on one account against a real cluster, run
as the installed console script, as a user's shell would."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from localcluster.launcher import wait_until
from tests.support.cli import MDBX, mdbx

PASSWORD = "correct horse battery"


class Account:
    """One user logged in through ``mdbx login``, syncing folders of ``tmp_path``."""

    def __init__(self, master: str, tmp_path: Path, name: str) -> None:
        self.master = master
        self.env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
        self.tmp_path = tmp_path

    def run(self, *args, timeout=120, input=None):
        return mdbx(*args, master=self.master, env=self.env, timeout=timeout, input=input)

    def ok(self, *args, **kwargs):
        result = self.run(*args, **kwargs)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def sync(self, folder: Path, *args: str) -> dict:
        """One ``mdbx --json sync`` of ``folder`` with /work; its JSON summary."""
        result = self.ok("--json", "sync", str(folder), "/work", *args)
        return json.loads(result.stdout)

    def popen(self, *args: str) -> subprocess.Popen:
        """``mdbx ARGS`` in the background, its stderr in ``tmp_path/client.log``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MDBX_")}
        env.update(self.env, MDBX_MASTER=self.master)
        with (self.tmp_path / "client.log").open("ab") as log:
            return subprocess.Popen([MDBX, *args], env=env, stdout=subprocess.DEVNULL, stderr=log)


@pytest.fixture
def account(module_cluster, tmp_path, request):
    name = "s" + hashlib.sha256(request.node.name.encode()).hexdigest()[:10]
    someone = Account(module_cluster.master.url, tmp_path, name)
    someone.ok("admin", "user", "add", name, "--password-stdin", input=PASSWORD + "\n")
    someone.ok("login", name, "--password-stdin", input=PASSWORD + "\n")
    return someone


def files_of(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` but the sync's own, by relative path."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith((".mdbx/", ".mdbx-trash/")):
            found[rel] = path.read_bytes()
    return found


def write(root: Path, rel: str, data: bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    # Ten seconds old, so that a scan trusts its cached hash at once: a file changed
    # within the last two seconds is always hashed again (app.client.sync.local).
    past = time.time_ns() - 10 * 10**9
    os.utime(path, ns=(past, past))


def test_edits_on_both_sides_travel_and_the_folders_converge(account, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "notes.txt", b"one\n")
    write(a, "sub/deep.bin", os.urandom(50_000))
    (a / "empty").mkdir()
    first = account.sync(a)
    assert first["done"]["upload"] == 2 and first["failed"] == []
    pulled = account.sync(b)
    assert pulled["done"]["download"] == 2
    assert files_of(b) == files_of(a) and (b / "empty").is_dir()
    write(a, "notes.txt", b"one\ntwo\n")
    write(b, "sub/new.txt", b"from b")
    account.sync(a)
    account.sync(b)
    account.sync(a)
    assert files_of(a) == files_of(b)
    assert files_of(a)["notes.txt"] == b"one\ntwo\n" and files_of(a)["sub/new.txt"] == b"from b"
    # Nothing changed: nothing travels; once the files just written are two seconds old
    # (younger ones are hashed again: app.client.sync.local), nothing is read either.
    again = account.sync(a)
    assert again["planned"] == {} and again["bytes_up"] == 0
    wait_until(lambda: account.sync(a)["hashed"] == 0, deadline=10, interval=0.5)


def test_a_concurrent_edit_keeps_both_contents(account, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "doc.txt", b"v1")
    account.sync(a)
    account.sync(b)
    write(a, "doc.txt", b"edited on a")
    write(b, "doc.txt", b"edited on b")
    account.sync(a)
    result = account.sync(b)
    assert result["done"]["rename_local"] == 1
    account.sync(a)
    assert files_of(a) == files_of(b)
    copies = [rel for rel in files_of(b) if rel.startswith("doc (conflicted copy ")]
    assert len(copies) == 1 and copies[0].endswith(".txt")
    assert files_of(b)["doc.txt"] == b"edited on a"
    assert files_of(b)[copies[0]] == b"edited on b"


def test_an_edit_against_a_delete_keeps_the_edit(account, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for n in range(4):
        write(a, f"f{n}.txt", b"v1")
    account.sync(a)
    account.sync(b)
    (a / "f0.txt").unlink()
    write(b, "f0.txt", b"kept edit")
    assert account.sync(a)["done"]["delete_remote"] == 1
    assert account.sync(b)["done"]["upload"] == 1
    assert account.sync(a)["done"]["download"] == 1
    assert files_of(a)["f0.txt"] == files_of(b)["f0.txt"] == b"kept edit"
    # A remote delete sends the local file to .mdbx-trash, where it can be found.
    (b / "f1.txt").unlink()
    account.sync(b)
    assert account.sync(a)["done"]["delete_local"] == 1
    assert (a / ".mdbx-trash" / "f1.txt").read_bytes() == b"v1"
    assert "f1.txt" not in files_of(a)


def test_a_sync_that_would_delete_most_files_stops_unless_forced(account, tmp_path):
    a = tmp_path / "a"
    for n in range(4):
        write(a, f"f{n}.txt", b"x")
    account.sync(a)
    for n in range(3):
        (a / f"f{n}.txt").unlink()
    refused = account.run("sync", str(a), "/work")
    assert refused.returncode == 4, refused.stderr
    assert "--max-delete" in refused.stderr and "Traceback" not in refused.stderr
    listed = json.loads(account.ok("--json", "ls", "/work").stdout)["entries"]
    assert len(listed) == 4
    forced = account.sync(a, "--force")
    assert forced["done"]["delete_remote"] == 3


def test_ignored_and_excluded_paths_stay_local(account, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, ".mdbxignore", b"build/\n*.log\n")
    for rel in ("keep.txt", "x.log", "build/out.o", ".notes.swp", "draft~", "private/secret"):
        write(a, rel, b"data")
    account.sync(a, "--exclude", "private")
    account.sync(b)
    assert sorted(files_of(b)) == [".mdbxignore", "keep.txt"]
    # The exclusion is remembered by the folder.
    write(a, "private/other", b"more")
    assert account.sync(a)["planned"] == {}


def test_a_renamed_folder_of_1000_files_is_moved_not_sent_again(account, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for n in range(1000):
        write(a, f"photos/{n // 100}/{n}.txt", f"file {n}".encode())
    account.sync(a)
    account.sync(b)
    (a / "photos").rename(a / "pictures")
    moved = account.sync(a)
    assert moved["done"] == {"move_remote": 1} and moved["bytes_up"] == 0
    followed = account.sync(b)
    assert followed["done"] == {"move_local": 1} and followed["bytes_down"] == 0
    assert files_of(a) == files_of(b) and len(files_of(b)) == 1000
    assert not (b / "photos").exists()


BLOCK = 4 * 1024 * 1024


@pytest.mark.parametrize(
    "blocks",
    [
        pytest.param(6, id="24MiB"),
        # The 200 MiB: about 11 s here, on a shared machine.
        pytest.param(50, id="200MiB"),
    ],
)
def test_an_edit_of_one_block_of_a_large_file_sends_about_one_block(account, tmp_path, blocks):
    a, b = tmp_path / "a", tmp_path / "b"
    data = bytearray(os.urandom(blocks * BLOCK + 12345))
    write(a, "big.bin", bytes(data))
    first = account.sync(a)
    assert first["bytes_up"] == len(data)
    account.sync(b)
    middle = blocks // 2 * BLOCK
    data[middle + 100 : middle + 200] = os.urandom(100)
    write(a, "big.bin", bytes(data))
    edited = account.sync(a)
    assert edited["done"] == {"upload": 1}
    # One block and the plan's line of JSON, not the whole file.
    assert BLOCK < edited["bytes_up"] < BLOCK + 4096
    followed = account.sync(b)
    assert followed["done"] == {"download": 1}
    assert hashlib.sha256((b / "big.bin").read_bytes()).digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize(
    "files",
    [
        2_000,
        # The 10,000: long on a shared machine (the second client pulls some
        # 500-700 files/s), so for make soak; 2,000 take the same paths.
        pytest.param(10_000, marks=pytest.mark.soak),
    ],
)
def test_a_tree_of_small_files_synced_by_one_client_is_seen_whole_by_another(
    account, tmp_path, files
):
    a, b = tmp_path / "a", tmp_path / "b"
    for n in range(files):
        write(a, f"d{n % 20:02d}/f{n:05d}.txt", b"%05d " % n + os.urandom(n % 2000))
    first = account.sync(a)
    # Small files go in batches (POST /api/batch): each is one upload all the same.
    assert first["failed"] == []
    assert first["done"] == {"mkdir_remote": 20, "upload": files}
    pulled = account.sync(b)
    assert pulled["failed"] == []
    assert pulled["done"] == {"mkdir_local": 20, "download": files}
    assert files_of(b) == files_of(a) and len(files_of(b)) == files
    # Nothing changed on either side: nothing to do.
    assert account.sync(a)["planned"] == {} and account.sync(b)["planned"] == {}


def test_a_client_killed_mid_sync_resumes_where_it_was(account, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for n in range(400):
        write(a, f"d{n % 7}/{n}.bin", os.urandom(3000))
    # One request at a time: the first batch of 250 files is recorded while the second
    # is on its way, and the kill falls there.
    client = account.popen("--parallel", "1", "sync", str(a), "/work")
    db = a / ".mdbx" / "sync.db"

    def recorded() -> int:
        try:
            with sqlite3.connect(db, timeout=1) as conn:
                return conn.execute("SELECT count(*) FROM base WHERE is_dir = 0").fetchone()[0]
        except sqlite3.Error:
            return 0

    wait_until(lambda: recorded() >= 1 or client.poll() is not None, deadline=60, interval=0.01)
    client.send_signal(signal.SIGKILL)
    client.wait(timeout=10)
    done_before = recorded()
    assert done_before < 400, "the sync ended before it could be killed"
    resumed = account.sync(a)
    assert resumed["failed"] == []
    # What was recorded is not sent again; what was sent but not recorded is just learnt.
    assert resumed["done"].get("upload", 0) <= 400 - done_before
    account.sync(b)
    assert files_of(a) == files_of(b) and len(files_of(b)) == 400
    assert account.sync(a)["planned"] == {}


def test_watch_picks_up_a_remote_change_within_seconds(account, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "live.txt", b"v1")
    account.sync(a)
    watcher = account.popen("sync", str(b), "/work", "--watch")
    try:
        wait_until(lambda: (b / "live.txt").exists(), deadline=30)
        write(a, "live.txt", b"v2")
        account.sync(a)
        changed_at = time.monotonic()
        wait_until(lambda: (b / "live.txt").read_bytes() == b"v2", deadline=10, interval=0.05)
        assert time.monotonic() - changed_at < 3.0
        # And a local change in the watched folder goes up without being asked.
        write(b, "from-watch.txt", b"seen")
        wait_until(
            lambda: account.sync(a) and (a / "from-watch.txt").exists(), deadline=15, interval=0.3
        )
        assert (a / "from-watch.txt").read_bytes() == b"seen"
    finally:
        watcher.send_signal(signal.SIGINT)
        try:
            watcher.wait(timeout=10)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()
