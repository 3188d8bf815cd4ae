"""Account uploads straight to the nodes (``POST /api/uploads``, PUTs to the node, the
commit) through the Flask test client, onto a real node served on loopback that
registers its copies with this master (served on loopback too), in secured mode: the
blocks land as private copies, only blocks this upload sent (a node's receipt) or the
user's own at that path count, the whole-file hash is checked, the quota holds (#21)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from app.config import MIN_BLOCK_SIZE
from app.factory import create_app
from app.node.service import EXTENSION as NODE
from app.security import CLUSTER_HEADER, listing_digest
from localcluster.launcher import free_port
from tests.support.apps import lone_node_app, make_client, serve_app

BLOCK = MIN_BLOCK_SIZE
NODE_ID = "n1"
SECRET = "test-cluster-secret-0123456789"
CLUSTER = {CLUSTER_HEADER: SECRET}


class Cluster:
    def __init__(self, master: Flask, client: FlaskClient, node: Flask, node_url: str) -> None:
        self.master = master
        self.client = client
        self.node = node
        self.node_url = node_url

    def login(self, name: str) -> dict[str, str]:
        reply = self.client.post("/api/login", json={"username": name, "password": f"pw-{name}"})
        assert reply.status_code == 200, reply.json
        return {"Authorization": f"Bearer {reply.json['token']}"}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    master = create_app(
        "master",
        {
            "DATA_DIR": str(tmp_path / "master"),
            "BACKGROUND_TASKS": False,
            "REPLICATION": 1,
            "BLOCK_SIZE": BLOCK,
            "CLUSTER_SECRET": SECRET,
        },
    )
    with serve_app(master) as master_url:
        # It registers its copies itself, under the URL it was told it has.
        port = free_port()
        node = lone_node_app(
            tmp_path / "node",
            master_url,
            NODE_ID,
            CLUSTER_SECRET=SECRET,
            PUBLIC_URL=f"http://127.0.0.1:{port}",
        )
        with serve_app(node, port) as node_url:
            client = make_client(master)
            beat = {"node": NODE_ID, "url": node_url, "capacity_bytes": 1 << 40}
            answer = client.post(
                "/nodes/heartbeat", json={**beat, "free_bytes": 1 << 40}, headers=CLUSTER
            )
            assert answer.status_code == 200, answer.json
            node.extensions[NODE].membership.learn(answer.json)
            for name in ("alice", "bob"):
                account = {"username": name, "password": f"pw-{name}"}
                added = client.post("/api/admin/users", json=account, headers=CLUSTER)
                assert added.status_code == 200, added.json
            try:
                yield Cluster(master, client, node, node_url)
            finally:
                master.extensions["mdbx.master"].index.close()


def cut(data: bytes) -> list[bytes]:
    return [data[i : i + BLOCK] for i in range(0, len(data), BLOCK)] or [b""]


def plan(path: str, data: bytes, claimed: str | None = None) -> dict:
    return {
        "path": path,
        "size": len(data),
        "hash": claimed or hashlib.sha256(data).hexdigest(),
        "blocks": [hashlib.sha256(b).hexdigest() for b in cut(data)],
    }


def begin(cluster: Cluster, who: dict, path: str, data: bytes, claimed: str | None = None):
    return cluster.client.post("/api/uploads", json=plan(path, data, claimed), headers=who)


def send(data: bytes, missing: list[dict]) -> dict[str, str]:
    """PUT each block to its node, as a client does; the receipts."""
    blocks = cut(data)
    receipts = {}
    for block in missing:
        reply = requests.put(block["url"], data=blocks[block["indexes"][0]], timeout=10)
        assert reply.status_code == 200, reply.text
        receipts[block["hash"]] = reply.json()["receipt"]
    return receipts


def commit(cluster: Cluster, who: dict, upload_id: str, receipts: dict):
    return cluster.client.post(
        f"/api/uploads/{upload_id}/commit", json={"receipts": receipts}, headers=who
    )


def error(reply) -> tuple[int, str]:
    return reply.status_code, reply.json["error"]["code"]


def test_blocks_sent_to_the_node_make_the_file_as_private_copies(cluster):
    alice = cluster.login("alice")
    data = os.urandom(3 * BLOCK + 1234)
    begun = begin(cluster, alice, "/docs/big.bin", data)
    assert begun.status_code == 200, begun.json
    state = begun.json
    assert [m["indexes"] for m in state["missing"]] == [[0], [1], [2], [3]]
    assert all(
        m["url"].startswith(cluster.node_url) and "token=" in m["url"] for m in state["missing"]
    )
    reply = commit(cluster, alice, state["upload_id"], send(data, state["missing"]))
    assert reply.status_code == 200, reply.json
    digest = hashlib.sha256(data).hexdigest()
    assert reply.json == {"path": "/docs/big.bin", "size": len(data), "hash": digest, "version": 1}
    assert cluster.client.get("/api/files/docs/big.bin", headers=alice).data == data
    # Private copies: a node serves them only on a URL the master signed, and the
    # global catalogue knows no such file.
    visibility = cluster.master.extensions["mdbx.master"].visibility
    assert all(visibility.is_private(m["hash"]) for m in state["missing"])
    assert (
        cluster.client.get("/stat", query_string={"hash": digest}, headers=CLUSTER).status_code
        == 404
    )
    # The upload is closed; a second commit finds nothing.
    assert error(commit(cluster, alice, state["upload_id"], {})) == (404, "upload_not_found")
    # A new version at the same path, in the change feed like any write.
    cursor = cluster.client.get("/api/changes/latest", headers=alice).json["cursor"]
    again = os.urandom(2 * BLOCK + 5)
    second = begin(cluster, alice, "/docs/big.bin", again).json
    stored = commit(cluster, alice, second["upload_id"], send(again, second["missing"]))
    assert stored.json["version"] == 2
    changes = cluster.client.get("/api/changes", query_string={"cursor": cursor}, headers=alice)
    assert [c["path"] for c in changes.json["changes"]] == ["/docs/big.bin"]
    versions = cluster.client.get(
        "/api/versions", query_string={"path": "/docs/big.bin"}, headers=alice
    )
    assert [v["hash"] for v in versions.json["versions"]][-1:] == [digest]


def test_knowing_the_hashes_is_no_proof_of_holding_the_bytes(cluster):
    alice, bob = cluster.login("alice"), cluster.login("bob")
    data = os.urandom(2 * BLOCK + 99)
    first = begin(cluster, alice, "/a.bin", data).json
    alice_receipts = send(data, first["missing"])
    assert commit(cluster, alice, first["upload_id"], alice_receipts).status_code == 200
    # Bob announces the same content: every block is still his to send, though the
    # cluster holds them all, and without receipts for his upload nothing commits.
    theirs = begin(cluster, bob, "/stolen.bin", data).json
    assert len(theirs["missing"]) == 3
    assert error(commit(cluster, bob, theirs["upload_id"], {})) == (409, "blocks_missing")
    # Alice's receipts were for her upload; forged ones are nobody's.
    assert error(commit(cluster, bob, theirs["upload_id"], alice_receipts)) == (
        409,
        "blocks_missing",
    )
    forged = {m["hash"]: "0" * 64 for m in theirs["missing"]}
    refused = commit(cluster, bob, theirs["upload_id"], forged)
    assert error(refused) == (409, "blocks_missing")
    assert refused.json["error"]["missing"] == [0, 1, 2]
    assert cluster.client.get("/api/files/stolen.bin", headers=bob).status_code == 404
    # Nor can he read or commit alice's upload.
    other = begin(cluster, alice, "/b.bin", data).json
    assert error(cluster.client.get(f"/api/uploads/{other['upload_id']}", headers=bob)) == (
        404,
        "upload_not_found",
    )
    assert error(commit(cluster, bob, other["upload_id"], alice_receipts)) == (
        404,
        "upload_not_found",
    )


def test_a_tampered_block_is_refused_by_the_node_and_gets_no_receipt(cluster):
    alice = cluster.login("alice")
    data = os.urandom(2 * BLOCK + 10)
    state = begin(cluster, alice, "/t.bin", data).json
    tampered = bytearray(cut(data)[0])
    tampered[7] ^= 1
    reply = requests.put(state["missing"][0]["url"], data=bytes(tampered), timeout=10)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "hash_mismatch"
    # A signed URL is for its one block, chain and upload.
    other = state["missing"][1]["url"].replace(state["upload_id"], "f" * 32)
    assert requests.put(other, data=cut(data)[1], timeout=10).status_code == 403
    receipts = send(data, state["missing"][1:])
    refused = commit(cluster, alice, state["upload_id"], receipts)
    assert error(refused) == (409, "blocks_missing") and refused.json["error"]["missing"] == [0]
    # Sent right, it commits.
    receipts |= send(data, state["missing"][:1])
    assert commit(cluster, alice, state["upload_id"], receipts).status_code == 200


def test_blocks_that_do_not_make_the_file_announced_close_the_upload(cluster):
    alice = cluster.login("alice")
    data = os.urandom(2 * BLOCK + 10)
    lie = hashlib.sha256(b"some other file").hexdigest()
    state = begin(cluster, alice, "/lie.bin", data, claimed=lie).json
    refused = commit(cluster, alice, state["upload_id"], send(data, state["missing"]))
    assert error(refused) == (400, "hash_mismatch")
    assert error(cluster.client.get(f"/api/uploads/{state['upload_id']}", headers=alice)) == (
        404,
        "upload_not_found",
    )
    assert cluster.client.get("/api/files/lie.bin", headers=alice).status_code == 404


def test_only_blocks_not_held_at_that_path_are_asked_for(cluster):
    alice = cluster.login("alice")
    old = os.urandom(3 * BLOCK + 50)
    assert cluster.client.put("/api/files/f.bin", data=old, headers=alice).status_code == 200
    new = bytearray(old)
    new[BLOCK + 3] ^= 0xFF
    state = begin(cluster, alice, "/f.bin", bytes(new)).json
    assert [m["indexes"] for m in state["missing"]] == [[1]]
    reply = commit(cluster, alice, state["upload_id"], send(bytes(new), state["missing"]))
    assert reply.status_code == 200 and reply.json["version"] == 2
    assert cluster.client.get("/api/files/f.bin", headers=alice).data == bytes(new)


def test_the_quota_is_checked_before_any_byte_and_at_the_commit(cluster):
    alice = cluster.login("alice")
    data = os.urandom(2 * BLOCK + 10)
    quota = {"quota_bytes": len(data) - 1}
    assert (
        cluster.client.patch("/api/admin/users/alice", json=quota, headers=CLUSTER).status_code
        == 200
    )
    assert error(begin(cluster, alice, "/q.bin", data)) == (507, "quota_exceeded")
    roomy = {"quota_bytes": len(data) + 100}
    assert (
        cluster.client.patch("/api/admin/users/alice", json=roomy, headers=CLUSTER).status_code
        == 200
    )
    state = begin(cluster, alice, "/q.bin", data).json
    receipts = send(data, state["missing"])
    assert (
        cluster.client.put("/api/files/other.bin", data=b"x" * 200, headers=alice).status_code
        == 200
    )
    assert error(commit(cluster, alice, state["upload_id"], receipts)) == (507, "quota_exceeded")


def test_a_plan_that_is_not_the_file_cut_in_blocks_is_refused(cluster):
    alice = cluster.login("alice")
    data = os.urandom(2 * BLOCK)
    body = plan("/p.bin", data)
    body["blocks"] = body["blocks"][:1]
    assert error(cluster.client.post("/api/uploads", json=body, headers=alice)) == (
        400,
        "invalid_field",
    )
    assert (
        error(cluster.client.post("/api/uploads", json={**plan("/", data)}, headers=alice))[0]
        == 400
    )
    assert cluster.client.post("/api/uploads", json=plan("/p.bin", data)).status_code == 401


def test_the_node_hashes_blobs_end_to_end_for_the_cluster_only(cluster):
    alice = cluster.login("alice")
    data = os.urandom(2 * BLOCK + 1)
    state = begin(cluster, alice, "/d.bin", data).json
    send(data, state["missing"])
    blocks = [m["hash"] for m in state["missing"]]
    url = f"{cluster.node_url}/blobs/digest"
    named = {"hash": listing_digest(blocks)}
    assert requests.post(url, params=named, json={"blocks": blocks}, timeout=10).status_code == 401
    reply = requests.post(url, params=named, json={"blocks": blocks}, headers=CLUSTER, timeout=10)
    assert reply.json() == {"hash": hashlib.sha256(data).hexdigest(), "size": len(data)}
    # The request names its listing: a token for one list opens no other.
    other = requests.post(
        url, params=named, json={"blocks": blocks[:1]}, headers=CLUSTER, timeout=10
    )
    assert other.status_code == 403
    absent = ["0" * 64]
    missing = requests.post(
        url,
        params={"hash": listing_digest(absent)},
        json={"blocks": absent},
        headers=CLUSTER,
        timeout=10,
    )
    assert missing.status_code == 404
