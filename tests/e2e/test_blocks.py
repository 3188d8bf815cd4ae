"""Files of any size: blocks, manifests, the upload protocol, Range reads, resume, GC."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from localcluster.launcher import Cluster, Role, wait_until
from tests.support.api import get_json
from tests.support.cli import MDBX, MIB, mdbx

BLOCK = 4 * MIB
TIMEOUT = 120


def sha256_file(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def stored_on_nodes(cluster: Cluster) -> tuple[int, int]:
    """(blobs, bytes) held by all nodes together, from their own counters."""
    healths = [get_json(node.url, "/health") for node in cluster.nodes]
    return sum(h["files"] for h in healths), sum(h["bytes_stored"] for h in healths)


def tree_rss(role: Role) -> int:
    """Largest resident set of one process of a role (gunicorn arbiter or worker)."""
    assert role.process is not None
    pids = [role.process.pid]
    children = Path(f"/proc/{role.process.pid}/task/{role.process.pid}/children")
    pids += [int(p) for p in children.read_text().split()]
    largest = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                largest = max(largest, int(line.split()[1]) * 1024)
    return largest


@pytest.fixture(scope="module")
def blocks_cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("blocks")).start(nodes=2)
    yield cluster
    cluster.kill()


def test_200_mib_round_trip_through_the_cli_with_bounded_node_memory(blocks_cluster, tmp_path):
    cluster = blocks_cluster
    source = tmp_path / "random.bin"
    with source.open("wb") as out:
        for _ in range(200):
            out.write(os.urandom(MIB))
    peak = {"rss": 0}

    def sample_while(process: subprocess.Popen[str]) -> None:
        while process.poll() is None:
            for role in (cluster.master, *cluster.nodes):
                peak["rss"] = max(peak["rss"], tree_rss(role))
            time.sleep(0.05)

    master = cluster.master.url
    env = {**os.environ, "MDBX_MASTER": master}
    put = subprocess.Popen(
        [MDBX, "--json", "blobs", "put", str(source)], stdout=subprocess.PIPE, text=True, env=env
    )
    sample_while(put)
    report = json.loads(put.communicate(timeout=TIMEOUT)[0])
    assert put.returncode == 0
    stored = report["uploaded"][0]
    assert stored["hash"] == sha256_file(source) and stored["blocks"] == 50
    assert get_json(master, "/get", hash=stored["hash"])["blocks"] == 50

    back = tmp_path / "back.bin"
    get = subprocess.Popen(
        [MDBX, "blobs", "get", stored["hash"], "-o", str(back)], env=env, text=True
    )
    sample_while(get)
    assert get.wait(timeout=TIMEOUT) == 0
    assert sha256_file(back) == stored["hash"]
    # Blocks travel whole through a node or the master: memory stays far below the file.
    assert peak["rss"] < 150 * MIB, peak


def test_changing_one_byte_sends_one_block(blocks_cluster, tmp_path):
    cluster = blocks_cluster
    master = cluster.master.url
    path = tmp_path / "doc.bin"
    payload = bytearray(os.urandom(10 * BLOCK))
    path.write_bytes(payload)
    first = mdbx("--json", "blobs", "put", str(path), master=master)
    assert first.returncode == 0, first.stderr
    blobs_before, bytes_before = stored_on_nodes(cluster)

    payload[5 * BLOCK + 123] ^= 0xFF
    path.write_bytes(payload)
    second = mdbx("--json", "blobs", "put", str(path), master=master)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["uploaded"][0]["blocks_sent"] == 1 and report["bytes_sent"] == BLOCK
    # The nodes' own counters: one new block and the new file's manifest (a blob of its
    # own, under 2 KiB for 10 blocks), each stored twice (R=2).
    blobs_after, bytes_after = stored_on_nodes(cluster)
    manifests = bytes_after - bytes_before - 2 * BLOCK
    assert blobs_after - blobs_before == 4 and 0 < manifests < 2 * 2048
    back = tmp_path / "back.bin"
    assert (
        mdbx(
            "blobs", "get", report["uploaded"][0]["hash"], "-o", str(back), master=master
        ).returncode
        == 0
    )
    assert back.read_bytes() == payload


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill-9"])
def test_an_interrupted_upload_resumes_with_what_is_missing(blocks_cluster, tmp_path, signum):
    cluster = blocks_cluster
    master = cluster.master.url
    path = tmp_path / "resume.bin"
    with path.open("wb") as out:
        for _ in range(120):
            out.write(os.urandom(MIB))
    blobs_before, _ = stored_on_nodes(cluster)
    env = {**os.environ, "MDBX_MASTER": master}
    put = subprocess.Popen(
        [MDBX, "--parallel", "1", "blobs", "put", str(path)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    # Ctrl+C once a few blocks are stored (each stored twice), well before the end.
    wait_until(lambda: stored_on_nodes(cluster)[0] - blobs_before >= 8, 60, interval=0.02)
    put.send_signal(signum)
    _out, err = put.communicate(timeout=TIMEOUT)
    if signum == signal.SIGINT:
        assert put.returncode == 130, err
        assert "run the same command again to resume" in err
    else:
        assert put.returncode == -signal.SIGKILL

    again = mdbx("--json", "blobs", "put", str(path), master=master, timeout=TIMEOUT)
    assert again.returncode == 0, again.stderr
    stored = json.loads(again.stdout)["uploaded"][0]
    assert stored["blocks"] == 30
    assert 0 < stored["blocks_sent"] <= 30 - 4
    assert get_json(master, "/get", hash=stored["hash"])["size"] == 120 * MIB


def test_a_1_gib_sparse_file_round_trips(blocks_cluster, tmp_path):
    master = blocks_cluster.master.url
    path = tmp_path / "sparse.img"
    with path.open("wb") as out:
        out.truncate(1024 * MIB)
        for offset in range(0, 1024 * MIB, 64 * MIB):  # some data in a sea of zeros
            out.seek(offset + 12345)
            out.write(os.urandom(MIB))
    put = mdbx("--json", "blobs", "put", str(path), master=master, timeout=TIMEOUT)
    assert put.returncode == 0, put.stderr
    stored = json.loads(put.stdout)["uploaded"][0]
    assert stored["blocks"] == 256
    # The all-zero blocks are one block, sent once.
    assert stored["blocks_sent"] <= 2 * 16 + 1
    back = tmp_path / "back.img"
    got = mdbx("blobs", "get", stored["hash"], "-o", str(back), master=master, timeout=TIMEOUT)
    assert got.returncode == 0, got.stderr
    assert sha256_file(back) == sha256_file(path)


def test_master_put_and_multipart_of_any_size_and_range_reads(blocks_cluster, tmp_path):
    master = blocks_cluster.master.url
    payload = os.urandom(3 * BLOCK + 1000)
    path = tmp_path / "raw.bin"
    path.write_bytes(payload)
    with path.open("rb") as body:  # curl -T raw.bin http://master/upload/raw.bin
        put = requests.put(f"{master}/upload/raw.bin", data=body, timeout=TIMEOUT)
    assert put.status_code == 200, put.text
    answer = put.json()
    assert answer["hash"] == hashlib.sha256(payload).hexdigest()
    assert (answer["name"], answer["size"], answer["blocks"]) == ("raw.bin", len(payload), 4)
    assert answer["copies"] == 2

    multipart = requests.post(
        f"{master}/upload", files={"file": ("again.bin", payload)}, timeout=TIMEOUT
    )
    assert multipart.json()["hash"] == answer["hash"] and multipart.json()["name"] == "again.bin"

    url = f"{master}/download?hash={answer['hash']}"
    whole = requests.get(url, timeout=TIMEOUT)
    assert whole.status_code == 200 and whole.content == payload
    assert whole.headers["Content-Length"] == str(len(payload))
    for header, expected in [
        (f"bytes={BLOCK - 10}-{BLOCK + 9}", payload[BLOCK - 10 : BLOCK + 10]),
        (f"bytes={BLOCK - 1}-{3 * BLOCK}", payload[BLOCK - 1 : 3 * BLOCK + 1]),
        ("bytes=0-0", payload[:1]),
        ("bytes=-100", payload[-100:]),
        (f"bytes={3 * BLOCK}-", payload[3 * BLOCK :]),
    ]:
        part = requests.get(url, headers={"Range": header}, timeout=TIMEOUT)
        assert part.status_code == 206, header
        assert part.content == expected, header
    outside = requests.get(url, headers={"Range": f"bytes={len(payload)}-"}, timeout=TIMEOUT)
    assert outside.status_code == 416
    assert outside.headers["Content-Range"] == f"bytes */{len(payload)}"
    assert outside.json()["error"]["code"] == "range_not_satisfiable"


def test_upload_protocol_refuses_what_does_not_add_up(blocks_cluster):
    master = blocks_cluster.master.url
    data = os.urandom(BLOCK + 5)
    blocks = [hashlib.sha256(data[:BLOCK]).hexdigest(), hashlib.sha256(data[BLOCK:]).hexdigest()]
    plan = {
        "name": "p.bin",
        "size": len(data),
        "hash": hashlib.sha256(data).hexdigest(),
        "block_size": BLOCK,
        "blocks": blocks,
    }
    short = requests.post(f"{master}/uploads", json={**plan, "blocks": blocks[:1]}, timeout=30)
    assert (short.status_code, short.json()["error"]["code"]) == (400, "invalid_field")

    begun = requests.post(f"{master}/uploads", json=plan, timeout=30).json()
    assert [m["hash"] for m in begun["missing"]] == blocks
    early = requests.post(f"{master}/uploads/{begun['upload_id']}/commit", timeout=30)
    assert (early.status_code, early.json()["error"]["code"]) == (409, "blocks_missing")

    lying = requests.post(f"{master}/uploads", json={**plan, "hash": "0" * 64}, timeout=30).json()
    for block, part in zip(lying["missing"], (data[:BLOCK], data[BLOCK:]), strict=True):
        assert requests.put(block["url"], data=part, timeout=30).status_code == 200
    commit = requests.post(f"{master}/uploads/{lying['upload_id']}/commit", timeout=30)
    assert (commit.status_code, commit.json()["error"]["code"]) == (400, "hash_mismatch")
    assert requests.get(f"{master}/get?hash={'0' * 64}", timeout=30).status_code == 404

    # The honest upload finds both blocks present now: nothing to send.
    status = requests.get(f"{master}/uploads/{begun['upload_id']}", timeout=30).json()
    assert status["missing"] == []
    done = requests.post(f"{master}/uploads/{begun['upload_id']}/commit", timeout=30)
    assert done.status_code == 200 and done.json()["blocks"] == 2
    gone = requests.post(f"{master}/uploads/{begun['upload_id']}/commit", timeout=30)
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "upload_not_found")


def test_abandoned_blocks_are_collected_and_lost_replicas_fall_back(spawn):
    cluster = spawn(
        nodes=3,
        env={
            "MDBX_UPLOAD_TTL": "1",
            "MDBX_GC_GRACE": "0",
            "MDBX_REPAIR_INTERVAL": "0.3",
            "MDBX_NODE_TIMEOUT": "2",
            "MDBX_SYNC_INTERVAL": "0.3",  # beats well within the timeout
            "MDBX_REPAIR_GRACE": "600",
        },
    )
    master = cluster.master.url
    data = os.urandom(BLOCK + 7)
    block = hashlib.sha256(data[:BLOCK]).hexdigest()
    plan = {
        "name": "left.bin",
        "size": len(data),
        "hash": hashlib.sha256(data).hexdigest(),
        "block_size": BLOCK,
        "blocks": [block, hashlib.sha256(data[BLOCK:]).hexdigest()],
    }
    begun = requests.post(f"{master}/uploads", json=plan, timeout=30).json()
    assert requests.put(begun["missing"][0]["url"], data=data[:BLOCK], timeout=30).ok
    assert stored_on_nodes(cluster)[0] == 2
    # The upload expires, then its block is deleted from every node.
    wait_until(lambda: stored_on_nodes(cluster)[0] == 0, 20)

    payload = os.urandom(6 * BLOCK)
    answer = requests.put(f"{master}/upload?name=kept.bin", data=payload, timeout=60).json()
    cluster.nodes[0].kill()
    wait_until(
        lambda: any(n["state"] == "down" for n in get_json(master, "/nodes")),
        15,
    )
    # Every block still has a live copy on one of the two other nodes.
    got = requests.get(f"{master}/download?hash={answer['hash']}", timeout=60)
    assert got.status_code == 200 and got.content == payload


def test_a_files_blocks_go_to_the_same_nodes_so_that_one_can_send_it_whole(spawn):
    block = 64 * 1024
    cluster = spawn(nodes=3, env={"MDBX_BLOCK_SIZE": str(block)})
    master = cluster.master.url
    wait_until(lambda: [n["state"] for n in get_json(master, "/nodes")] == ["up"] * 3, 15)
    for attempt in range(3):
        payload = os.urandom(10 * block + attempt)
        put = requests.put(f"{master}/upload/f{attempt}.bin", data=payload, timeout=TIMEOUT)
        assert put.status_code == 200, put.text
        layout = get_json(master, f"/files/{put.json()['hash']}/blocks")
        holders = {tuple(sorted(b["urls"])) for b in layout["blocks"]}
        assert len(holders) == 1 and len(holders.pop()) == 2, layout
        url = f"{master}/download?hash={put.json()['hash']}"
        hop = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
        assert hop.status_code == 302 and "/file?hash=" in hop.headers["Location"]
        assert requests.get(url, timeout=TIMEOUT).content == payload

    # The block upload protocol names the same nodes for every block too.
    data = os.urandom(5 * block)
    plan = {
        "name": "planned.bin",
        "size": len(data),
        "hash": hashlib.sha256(data).hexdigest(),
        "block_size": block,
        "blocks": [
            hashlib.sha256(data[i : i + block]).hexdigest() for i in range(0, len(data), block)
        ],
    }
    begun = requests.post(f"{master}/uploads", json=plan, timeout=TIMEOUT).json()
    assert len(begun["missing"]) == 5
    assert len({tuple(missing["nodes"]) for missing in begun["missing"]}) == 1
