"""``mdbx put`` of a large new file sends its blocks straight to the nodes (``/api/uploads``,
issue #21), on a real cluster of gunicorn processes with R = 2: the bytes come back, each
block is on both nodes as a private copy, a put cut off goes on without sending its
blocks again, and a block tampered with or never sent keeps the file from appearing."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import requests

from app.client.account_client import AccountClient
from app.client.api import Client
from app.client.direct_put import upload_blocks
from app.security import listing_digest
from tests.support.cli import MIB, StopAfter, mdbx

BLOCK = 4 * MIB
TIMEOUT = 10
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def cluster(module_spawn):
    return module_spawn(
        nodes=2, env={"MDBX_REPLICATION": "2", "MDBX_LOGIN_RATE_LIMIT": "10000 per minute"}
    )


@pytest.fixture
def user(cluster, tmp_path, request):
    name = "d" + hashlib.sha256(request.node.name.encode()).hexdigest()[:10]
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    for args in (("admin", "user", "add", name), ("login", name)):
        done = mdbx(*args, "--password-stdin", master=cluster.master.url, env=env, input=PASSWORD)
        assert done.returncode == 0, done.stderr
    return env


def run(cluster, env, *args):
    done = mdbx("--json", *args, master=cluster.master.url, env=env, timeout=120)
    assert done.returncode == 0, (done.stdout, done.stderr)
    return json.loads(done.stdout)


def master_log(cluster) -> str:
    return cluster.master.log_path.read_text(errors="replace")


def account(cluster, env, monkeypatch) -> AccountClient:
    monkeypatch.setenv("XDG_CONFIG_HOME", env["XDG_CONFIG_HOME"])
    return AccountClient(Client(cluster.master.url))


def test_a_large_put_goes_to_the_nodes_and_comes_back(cluster, user, tmp_path, monkeypatch):
    data = os.urandom(5 * BLOCK + 4321)
    local = tmp_path / "movie.bin"
    local.write_bytes(data)
    uploads_before = master_log(cluster).count('"POST /api/uploads HTTP')
    report = run(cluster, user, "put", str(local), "/films")
    stored = report["uploaded"][0]
    digest = hashlib.sha256(data).hexdigest()
    assert stored["hash"] == digest and stored["size"] == len(data)
    assert report["bytes_sent"] == len(data)
    log = master_log(cluster)
    assert log.count('"POST /api/uploads HTTP') == uploads_before + 1
    assert "PATCH /api/tus/" not in log.split('"POST /api/uploads HTTP')[-1]
    run(cluster, user, "get", "/films/movie.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data
    # Both nodes hold every block (the chain of R = 2), as private copies: by hash alone
    # a node answers as if it had none; the master's signed URLs read them.
    blocks = [hashlib.sha256(data[i : i + BLOCK]).hexdigest() for i in range(0, len(data), BLOCK)]
    for node in cluster.nodes:
        for block in blocks:
            got = requests.get(f"{node.url}/retrieve", params={"hash": block}, timeout=TIMEOUT)
            assert got.status_code == 404
    client = account(cluster, user, monkeypatch)
    try:
        mapped = client.call("GET", "/api/blockmap/films/movie.bin")
    finally:
        client.client.close()
    assert [b["hash"] for b in mapped["blocks"]] == blocks
    assert all(len(b["urls"]) == 2 for b in mapped["blocks"])
    assert requests.get(mapped["blocks"][0]["urls"][1], timeout=TIMEOUT).content == data[:BLOCK]


def test_a_put_cut_off_goes_on_without_sending_its_blocks_again(
    cluster, user, tmp_path, monkeypatch
):
    data = os.urandom(8 * BLOCK + 10)
    local = tmp_path / "huge.bin"
    local.write_bytes(data)
    client = account(cluster, user, monkeypatch)
    try:
        with pytest.raises(KeyboardInterrupt):
            upload_blocks(client, local, "/big/huge.bin", BLOCK, StopAfter(3 * BLOCK), parallel=1)
    finally:
        client.client.close()
    missing = mdbx("ls", "/big/huge.bin", master=cluster.master.url, env=user)
    assert missing.returncode == 3  # nothing under its name yet
    report = run(cluster, user, "put", str(local), "/big")
    stored = report["uploaded"][0]
    assert stored["hash"] == hashlib.sha256(data).hexdigest()
    # At least the three blocks whose receipts were kept are not sent again.
    assert stored["resumed_from"] >= 3 * BLOCK
    assert report["bytes_sent"] == len(data) - stored["resumed_from"]
    run(cluster, user, "get", "/big/huge.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == data


def test_a_tampered_or_absent_block_keeps_the_file_from_appearing(
    cluster, user, tmp_path, monkeypatch
):
    data = os.urandom(3 * BLOCK + 7)
    blocks = [data[i : i + BLOCK] for i in range(0, len(data), BLOCK)]
    client = account(cluster, user, monkeypatch)
    try:
        plan = {
            "path": "/t.bin",
            "size": len(data),
            "hash": hashlib.sha256(data).hexdigest(),
            "blocks": [hashlib.sha256(b).hexdigest() for b in blocks],
        }
        state = client.call("POST", "/api/uploads", json=plan)
        by_index = {m["indexes"][0]: m for m in state["missing"]}
        tampered = bytearray(blocks[0])
        tampered[0] ^= 1
        refused = requests.put(by_index[0]["url"], data=bytes(tampered), timeout=TIMEOUT)
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "hash_mismatch"
        receipts = {}
        for index in (1, 2):  # block 3 never sent
            sent = requests.put(by_index[index]["url"], data=blocks[index], timeout=TIMEOUT)
            assert sent.status_code == 200, sent.text
            receipts[by_index[index]["hash"]] = sent.json()["receipt"]
        commit = requests.post(
            f"{cluster.master.url}/api/uploads/{state['upload_id']}/commit",
            json={"receipts": receipts},
            headers=client.client.session.headers,
            timeout=TIMEOUT,
        )
        assert commit.status_code == 409
        assert commit.json()["error"]["code"] == "blocks_missing"
        assert commit.json()["error"]["missing"] == [0, 3]
        listed = mdbx("ls", "/t.bin", master=cluster.master.url, env=user)
        assert listed.returncode == 3
        # Nor does a node hash private blobs end to end for anyone but the master.
        hashes = [by_index[1]["hash"], by_index[2]["hash"]]
        for node in cluster.nodes:
            asked = requests.post(
                f"{node.url}/blobs/digest",
                params={"hash": listing_digest(hashes)},
                json={"blocks": hashes},
                timeout=TIMEOUT,
            )
            assert asked.status_code == 403
    finally:
        client.client.close()
