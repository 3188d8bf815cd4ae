"""The secured cluster mode on real gunicorn processes: one cluster secret for every role."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import pytest
import requests

from app.security import CLUSTER_HEADER, WRITE, blob_token
from localcluster.launcher import Cluster, free_port
from tests.support.cli import assert_clean_failure, mdbx

SECRET = "e2e-cluster-secret-" + "0123456789abcdef"
CLUSTER = {CLUSTER_HEADER: SECRET}
TIMEOUT = 60
BLOCK = 64 * 1024


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A master and two nodes on loopback, every one with the cluster secret.

    Starting at all proves node-to-master calls carry it: ``start`` waits until the
    master has the nodes' heartbeats.
    """
    cluster = Cluster(tmp_path_factory.mktemp("secured"), env={"MDBX_CLUSTER_SECRET": SECRET})
    cluster.start(nodes=2)
    yield cluster
    cluster.kill()


def without_token(url: str) -> str:
    parts = urlsplit(url)
    kept = "&".join(p for p in parts.query.split("&") if not p.startswith("token="))
    return urlunsplit(parts._replace(query=kept))


def test_unsigned_node_writes_are_refused(secured):
    payload = b"not allowed\n"
    digest = hashlib.sha256(payload).hexdigest()
    node = secured.nodes[0].url
    unsigned = requests.put(f"{node}/upload?hash={digest}", data=payload, timeout=TIMEOUT)
    assert unsigned.status_code == 401
    assert unsigned.json()["error"]["code"] == "missing_credentials"
    assert (
        requests.post(f"{node}/upload", files={"file": payload}, timeout=TIMEOUT).status_code == 401
    )
    forged = blob_token("a-secret-that-is-not-ours", WRITE, digest, 600)
    for token in ("garbage", forged):
        wrong = requests.put(
            f"{node}/upload?hash={digest}&token={token}", data=payload, timeout=TIMEOUT
        )
        assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "invalid_token"
    assert requests.get(f"{node}/health", timeout=TIMEOUT).json()["files"] == 0


def test_master_global_api_needs_credentials(secured):
    master = secured.master.url
    assert requests.get(f"{master}/health", timeout=TIMEOUT).status_code == 200
    refused = requests.get(f"{master}/list", timeout=TIMEOUT)
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "missing_credentials"
    assert requests.get(f"{master}/list", headers=CLUSTER, timeout=TIMEOUT).status_code == 200


def test_block_protocol_with_master_signed_urls(secured):
    payload = os.urandom(2 * BLOCK + 1234)
    blocks = [payload[i : i + BLOCK] for i in range(0, len(payload), BLOCK)]
    master = secured.master.url
    plan = {
        "name": "secured.bin",
        "size": len(payload),
        "hash": hashlib.sha256(payload).hexdigest(),
        "block_size": BLOCK,
        "blocks": [hashlib.sha256(b).hexdigest() for b in blocks],
    }
    begun = requests.post(f"{master}/uploads", json=plan, headers=CLUSTER, timeout=TIMEOUT)
    assert begun.status_code == 200, begun.text
    state = begun.json()
    assert len(state["missing"]) == 3
    for missing in state["missing"]:
        assert "token=" in missing["url"]
        body = blocks[missing["indexes"][0]]
        # No cluster header: the signed URL alone lets the client write to the node.
        stored = requests.put(missing["url"], data=body, timeout=TIMEOUT)
        assert stored.status_code == 200, stored.text
        assert len(stored.json()["replicas"]) == 2  # the chain forwards with the secret
    committed = requests.post(
        f"{master}/uploads/{state['upload_id']}/commit", headers=CLUSTER, timeout=TIMEOUT
    )
    assert committed.status_code == 200, committed.text
    assert committed.json()["hash"] == plan["hash"]
    # A multi-block file: a signed 302 to a node holding every block, which sends it whole;
    # with proxy=1 the master streams it, reading the blocks with the secret.
    hop = requests.get(
        f"{master}/download",
        params={"hash": plan["hash"]},
        headers=CLUSTER,
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert hop.status_code == 302 and "/file?hash=" in hop.headers["Location"]
    assert requests.get(hop.headers["Location"], timeout=TIMEOUT).content == payload
    unsigned = requests.get(without_token(hop.headers["Location"]), timeout=TIMEOUT)
    assert unsigned.status_code == 401
    streamed = requests.get(
        f"{master}/download",
        params={"hash": plan["hash"], "proxy": "1"},
        headers=CLUSTER,
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert streamed.status_code == 200 and streamed.content == payload
    mapped = requests.get(f"{master}/files/{plan['hash']}/blocks", headers=CLUSTER, timeout=TIMEOUT)
    first = mapped.json()["blocks"][0]
    read = requests.get(
        f"{first['urls'][0]}/retrieve",
        params={"hash": first["hash"], "token": first["token"]},
        timeout=TIMEOUT,
    )
    assert read.status_code == 200 and read.content == blocks[0]


def test_master_upload_replicates_and_download_redirects_with_a_token(secured):
    payload = b"secured hello\n"
    digest = hashlib.sha256(payload).hexdigest()
    master = secured.master.url
    uploaded = requests.post(
        f"{master}/upload", files={"file": ("hello.txt", payload)}, headers=CLUSTER, timeout=TIMEOUT
    )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["hash"] == digest and uploaded.json()["copies"] == 2
    redirect = requests.get(
        f"{master}/download",
        params={"hash": digest},
        headers=CLUSTER,
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    assert parse_qs(urlsplit(location).query)["token"]
    followed = requests.get(location, timeout=TIMEOUT)
    assert followed.status_code == 200 and followed.content == payload
    assert requests.get(without_token(location), timeout=TIMEOUT).status_code == 401


def test_a_node_upload_with_the_cluster_header_registers_and_replicates(secured):
    payload = b"straight to a node\n"
    node = secured.nodes[1].url
    answer = requests.post(
        f"{node}/upload", files={"file": ("n.txt", payload)}, headers=CLUSTER, timeout=TIMEOUT
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["registered"] is True and len(answer.json()["replicas"]) == 2


def test_a_non_loopback_bind_without_a_secret_exits_with_a_clear_message(tmp_path: Path):
    args = ["serve", "node", "--host", "0.0.0.0", "--port", str(free_port())]
    result = mdbx(*args, "--data-dir", str(tmp_path / "node"), timeout=30)
    assert_clean_failure(result, 1)
    assert "MDBX_CLUSTER_SECRET" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
