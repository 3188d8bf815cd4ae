"""The installed ``mdbx`` console script against real clusters (subprocesses, no mocks)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess

import pytest
import requests

from localcluster.launcher import wait_until
from tests.support.cli import MDBX, MIB, assert_clean_failure, mdbx


def wait_for_nodes_up(cluster):
    """Wait until the master counts every node up: a node answers /health before its
    first heartbeat reaches the master, and an upload then finds too few nodes."""

    def all_up():
        nodes = requests.get(cluster.master.url + "/nodes", timeout=5).json()
        return len(nodes) == len(cluster.nodes) and all(n["state"] == "up" for n in nodes)

    wait_until(all_up, 15)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def master(module_cluster):
    return module_cluster.master.url


def listed(master):
    result = mdbx("blobs", "ls", "--json", master=master)
    assert result.returncode == 0, result.stderr
    return {f["name"]: f for f in json.loads(result.stdout)}


def test_put_file_and_tree_then_get_stat_rm(master, tmp_path):
    single = os.urandom(200_000)
    (tmp_path / "single.bin").write_bytes(single)
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "top.txt").write_bytes(b"top level\n")
    deep = os.urandom(50_000)
    (tree / "sub" / "deep.bin").write_bytes(deep)

    put = mdbx("--json", "blobs", "put", "single.bin", "tree", master=master, cwd=tmp_path)
    assert put.returncode == 0, put.stderr
    report = json.loads(put.stdout)
    assert {u["name"] for u in report["uploaded"]} == {
        "single.bin",
        "tree/top.txt",
        "tree/sub/deep.bin",
    }
    assert all(u["copies"] == 2 for u in report["uploaded"]) and report["failed"] == []

    files = listed(master)
    assert files["single.bin"]["hash"] == sha256(single)
    assert files["tree/sub/deep.bin"] == {
        "hash": sha256(deep),
        "name": "tree/sub/deep.bin",
        "size": len(deep),
        "replicas": files["tree/sub/deep.bin"]["replicas"],
    }
    assert len(files["tree/sub/deep.bin"]["replicas"]) == 2

    by_hash = mdbx("blobs", "get", sha256(single), "-o", "by-hash.bin", master=master, cwd=tmp_path)
    assert by_hash.returncode == 0, by_hash.stderr
    assert (tmp_path / "by-hash.bin").read_bytes() == single
    out = tmp_path / "out"
    out.mkdir()
    by_name = mdbx("blobs", "get", "tree/sub/deep.bin", master=master, cwd=out)
    assert by_name.returncode == 0, by_name.stderr
    assert (out / "deep.bin").read_bytes() == deep  # default: the stored name's basename

    stat = mdbx("blobs", "stat", "--json", "single.bin", master=master)
    assert stat.returncode == 0, stat.stderr
    locations = json.loads(stat.stdout)["locations"]
    assert len(locations) == 2 and {loc["state"] for loc in locations} == {"up"}
    human = mdbx("blobs", "stat", sha256(single)[:12], master=master)
    assert human.returncode == 0 and sha256(single) in human.stdout
    assert human.stdout.count(" up ") == 2

    rm = mdbx("blobs", "rm", "--yes", "tree/top.txt", master=master)
    assert rm.returncode == 0, rm.stderr
    assert "tree/top.txt" not in listed(master)
    assert_clean_failure(mdbx("blobs", "get", "tree/top.txt", master=master, cwd=out), 3)
    assert_clean_failure(mdbx("blobs", "stat", sha256(b"top level\n"), master=master), 3)


def test_get_refuses_to_overwrite_unless_forced(master, tmp_path):
    (tmp_path / "note.txt").write_bytes(b"version one\n")
    assert (
        mdbx(
            "blobs", "put", "note.txt", "--to", "notes/keep.txt", master=master, cwd=tmp_path
        ).returncode
        == 0
    )
    target = tmp_path / "existing.txt"
    target.write_bytes(b"mine")

    refused = mdbx("blobs", "get", "notes/keep.txt", "-o", str(target), master=master)
    assert_clean_failure(refused, 1)
    assert "--force" in refused.stderr and target.read_bytes() == b"mine"

    forced = mdbx("blobs", "get", "notes/keep.txt", "-o", str(target), "--force", master=master)
    assert forced.returncode == 0, forced.stderr
    assert target.read_bytes() == b"version one\n"


def test_ambiguous_name_lists_the_candidates(master, tmp_path):
    hashes = []
    for content in (b"first\n", b"second\n"):
        (tmp_path / "same.txt").write_bytes(content)
        result = mdbx("blobs", "put", "same.txt", "--to", "twice.txt", master=master, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        hashes.append(sha256(content))
    result = mdbx("blobs", "get", "twice.txt", master=master, cwd=tmp_path)
    assert_clean_failure(result, 1)
    assert all(h in result.stderr for h in hashes)


def test_rm_asks_first(master, tmp_path):
    (tmp_path / "keep.txt").write_bytes(b"do not delete\n")
    assert (
        mdbx(
            "blobs", "put", "keep.txt", "--to", "asked.txt", master=master, cwd=tmp_path
        ).returncode
        == 0
    )
    declined = mdbx("blobs", "rm", "asked.txt", master=master, input="n\n")
    assert declined.returncode == 1 and "Traceback" not in declined.stderr
    assert "asked.txt" in listed(master)


def test_a_file_over_the_per_request_limit_goes_in_blocks(master, tmp_path):
    payload = os.urandom(11 * MIB)
    (tmp_path / "big.bin").write_bytes(payload)
    result = mdbx("--json", "blobs", "put", "big.bin", master=master, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    stored = json.loads(result.stdout)["uploaded"][0]
    assert stored["hash"] == sha256(payload)
    assert stored["blocks"] == stored["blocks_sent"] == 3
    got = mdbx("blobs", "get", "big.bin", "-o", "back.bin", master=master, cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "back.bin").read_bytes() == payload


def test_sync_uploads_only_what_is_missing(master, tmp_path):
    folder = tmp_path / "album"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"sync a\n")
    first = mdbx("blobs", "sync", "--json", str(folder), master=master)
    assert first.returncode == 0, first.stderr
    assert [u["name"] for u in json.loads(first.stdout)["uploaded"]] == ["album/a.txt"]

    (folder / "b.txt").write_bytes(b"sync b\n")
    second = json.loads(mdbx("blobs", "sync", "--json", str(folder), master=master).stdout)
    assert [u["name"] for u in second["uploaded"]] == ["album/b.txt"]
    assert [s["name"] for s in second["skipped"]] == ["album/a.txt"]


def test_status_exit_codes_follow_health(spawn, tmp_path):
    # Beats well within the timeout: at the default interval (2 s) a live node's last
    # beat could be older than 2 s, and it was reported down (a flaky failure).
    cluster = spawn(nodes=2, env={"MDBX_NODE_TIMEOUT": "2", "MDBX_SYNC_INTERVAL": "0.3"})
    wait_for_nodes_up(cluster)
    master = cluster.master.url
    (tmp_path / "f.txt").write_bytes(b"replicated twice\n")
    assert mdbx("blobs", "put", "f.txt", master=master, cwd=tmp_path).returncode == 0

    healthy = mdbx("status", master=master)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "healthy" in healthy.stdout and healthy.stdout.count(" up ") == 2

    cluster.nodes[0].kill()
    degraded = wait_until(
        lambda: (r := mdbx("status", "--json", master=master)).returncode and r, 20
    )
    assert degraded.returncode == 1, degraded.stderr
    report = json.loads(degraded.stdout)
    assert report["healthy"] is False and report["cluster"]["nodes_down"] == 1
    assert {n["state"] for n in report["nodes"]} == {"up", "down"}


def test_master_unreachable_exits_2_without_traceback(dead_url):
    # A token, so that the account's ls goes as far as the network too.
    env = {"MDBX_TOKEN": "t" * 40}
    for args in (["status"], ["blobs", "ls", "--json"], ["blobs", "get", "x.txt"], ["ls"]):
        result = mdbx(*args, master=dead_url, env=env)
        assert_clean_failure(result, 2)
        assert dead_url in result.stderr and "unreachable" in result.stderr
        assert result.stdout == ""


def test_ctrl_c_exits_130_with_a_short_message():
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(10)
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MDBX_")}
        proc = subprocess.Popen(
            [MDBX, "--master", url, "blobs", "ls"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        try:
            connection, _ = server.accept()  # the CLI now waits for an answer that never comes
            with connection:
                proc.send_signal(signal.SIGINT)
                _, stderr = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:  # failed: leave no process or pipes to later tests
                proc.kill()
                proc.communicate()
    assert proc.returncode == 130 and "Traceback" not in stderr.decode()
    assert stderr.decode().strip() == "Error: interrupted"
