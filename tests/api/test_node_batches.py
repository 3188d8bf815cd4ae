"""A node's ``POST /blobs``: many small blobs in one request, each checked against its
hash, all durable before the answer; refused whole when the body is not a batch, and
for the cluster only in secured mode; the master's batch write sends to spares what a
node did not store (#21)."""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import ExitStack
from pathlib import Path

from flask import Flask

from app.cluster.blob_batches import BLOBS_MEDIA_TYPE, MAX_BATCH_BLOBS, encode_blobs
from app.cluster.node_client import NodeClient
from app.master.writer import InsufficientReplicas, ReplicatedWriter, WriteResult
from app.metadata.records import NodeRecord, NodeStats
from app.security import CLUSTER_HEADER, WRITE, blob_token
from tests.support.apps import lone_node_app, make_client, serve_app
from tests.support.node_temp import stray_temp_files

SECRET = "test-cluster-secret-0123456789"


def blob(data: bytes, name: str = "") -> tuple[str, str, bytes]:
    return hashlib.sha256(data).hexdigest(), name, data


def post(client, body: bytes, content_type: str = BLOBS_MEDIA_TYPE, **query: str):
    return client.post("/blobs", query_string=query, data=body, content_type=content_type)


def on_disk(app: Flask, digest: str) -> Path:
    return Path(app.config["DATA_DIR"]) / "blobs" / digest[:2] / digest[2:4] / digest


def temp_files(app: Flask) -> list[Path]:
    return stray_temp_files(Path(app.config["DATA_DIR"]))


def test_each_blob_is_checked_and_the_good_ones_are_stored(node_client, node_app):
    good = [blob(os.urandom(n), f"f{n}.bin") for n in (0, 1, 4096, 70_000)]
    lying = (hashlib.sha256(b"what was promised").hexdigest(), "lie.bin", b"something else")
    response = post(node_client, encode_blobs([*good[:2], lying, *good[2:]]))
    assert response.status_code == 200, response.json
    results = response.json["results"]
    assert results[2]["hash"] == lying[0]
    assert results[2]["error"]["code"] == "hash_mismatch"
    stored = results[:2] + results[3:]
    for (digest, _name, data), result in zip(good, stored, strict=True):
        assert result == {"hash": digest, "size": len(data), "deduplicated": False}
        assert on_disk(node_app, digest).read_bytes() == data
        served = node_client.get("/retrieve", query_string={"hash": digest})
        assert served.status_code == 200 and served.data == data
    assert not on_disk(node_app, lying[0]).exists()
    assert temp_files(node_app) == []
    again = post(node_client, encode_blobs(good[:2])).json["results"]
    assert [r["deduplicated"] for r in again] == [True, True]


def test_private_blobs_are_served_to_no_one_without_a_token(node_client, node_app):
    data = b"a user's own bytes"
    digest, _name, _data = secret = blob(data, "mine.txt")
    response = post(node_client, encode_blobs([secret]), private="1")
    assert response.status_code == 200 and "error" not in response.json["results"][0]
    assert on_disk(node_app, digest).read_bytes() == data
    unsigned = node_client.get("/retrieve", query_string={"hash": digest})
    assert unsigned.status_code == 404
    assert unsigned.json["error"]["code"] == "blob_not_found"


def test_a_body_that_is_not_a_batch_is_refused_whole(node_client, node_app):
    one = blob(b"x" * 100, "x")
    body = encode_blobs([one])
    line = body.split(b"\n", 1)[0] + b"\n"
    cases = {
        "wrong type": (post(node_client, body, "application/octet-stream"), 400, "malformed_batch"),
        "cut short": (post(node_client, body[:-1]), 400, "malformed_batch"),
        "too long": (post(node_client, body + b"!"), 400, "malformed_batch"),
        "no line": (post(node_client, b'{"blobs": []}'), 400, "malformed_batch"),
        "not json": (post(node_client, b"blobs!\n"), 400, "invalid_json"),
        "no list": (post(node_client, b'{"blobs": 3}\n'), 400, "malformed_batch"),
        "bad hash": (
            post(node_client, line.replace(one[0].encode(), b"f" * 63) + one[2]),
            400,
            "invalid_hash",
        ),
        "bad size": (
            post(node_client, json.dumps({"blobs": [{"hash": one[0], "size": -1}]}).encode()),
            400,
            "malformed_batch",
        ),
        "too many": (
            post(node_client, encode_blobs([blob(b"")] * (MAX_BATCH_BLOBS + 1))),
            413,
            "payload_too_large",
        ),
    }
    for case, (response, status, code) in cases.items():
        assert (response.status_code, response.json["error"]["code"]) == (status, code), case
    assert not on_disk(node_app, one[0]).exists()
    assert temp_files(node_app) == []


def test_in_secured_mode_only_the_cluster_may_send_a_batch(make_node_app):
    app = make_node_app(CLUSTER_SECRET=SECRET)
    client = make_client(app)
    digest, _name, data = one = blob(b"cluster bytes")
    body = encode_blobs([one])
    anonymous = post(client, body)
    assert anonymous.status_code == 401
    token = blob_token(SECRET, WRITE, digest, 60)
    signed = post(client, body, hash=digest, token=token)
    assert signed.status_code == 403
    assert not on_disk(app, digest).exists()
    member = client.post(
        "/blobs", data=body, content_type=BLOBS_MEDIA_TYPE, headers={CLUSTER_HEADER: SECRET}
    )
    assert member.status_code == 200
    assert on_disk(app, digest).read_bytes() == data


def test_the_masters_batch_write_goes_to_a_spare_for_a_node_that_fails(tmp_path, dead_url):
    """``ReplicatedWriter.write_many`` over two real nodes on loopback and a dead one that
    placement puts first (the real ones report a full disk, so they come after it)."""
    with ExitStack() as stack:
        apps = {n: lone_node_app(tmp_path / n, dead_url, n) for n in ("a", "b")}
        urls = {n: stack.enter_context(serve_app(app)) for n, app in apps.items()}
        full = NodeStats(capacity_bytes=100, free_bytes=0)
        nodes = [NodeRecord(n, url, 0.0, 0.0, full) for n, url in urls.items()]
        dead = NodeRecord("dead", dead_url, 0.0, 0.0, NodeStats(capacity_bytes=100, free_bytes=50))
        writer = ReplicatedWriter(NodeClient(), replication=2, write_quorum=0)
        blobs = [blob(os.urandom(100 + n), f"f{n}") for n in range(20)]
        results = writer.write_many([dead, *nodes], blobs, private=True)
        for (digest, _name, data), result in zip(blobs, results, strict=True):
            assert isinstance(result, WriteResult)
            assert sorted(result.stored_on) == sorted(result.created_on) == ["a", "b"]
            assert all(on_disk(app, digest).read_bytes() == data for app in apps.values())
        # One node that stores it is fewer copies than the quorum: each file says so.
        fresh = [blob(os.urandom(50 + n)) for n in range(3)]
        short = writer.write_many([dead, nodes[0]], fresh, private=True)
        assert [type(result) for result in short] == [InsufficientReplicas] * 3
        assert short[0].code == "insufficient_replicas"
