"""One rule on both front ends (#17): the master's views and a node's answer Range
headers, upper-case hashes, an upload's expected hash and /assign's count alike.

The node is a real node app on loopback (werkzeug); the master, under the test client,
writes to it and reads from it over HTTP.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from app.config import MIN_BLOCK_SIZE
from app.server.connection import FAST_PATH, FastRequest
from tests.support.apps import lone_node_app, serve_app
from tests.support.user_master import one_node_master

TIMEOUT = 30
PAYLOAD = bytes(range(256)) * 4
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()
NODE_ID = "n1"


@pytest.fixture
def node(tmp_path: Path, dead_url: str) -> Iterator[tuple[Flask, str]]:
    app = lone_node_app(tmp_path / "node", dead_url, NODE_ID)
    with serve_app(app) as url:
        yield app, url


@pytest.fixture
def master(tmp_path: Path, node: tuple[Flask, str]) -> Iterator[FlaskClient]:
    """A master of one copy per blob, small blocks, and the node above as its one node."""
    with one_node_master(node[0], node[1], tmp_path / "master") as (_, client):
        yield client


def post_file(url_or_client: str | FlaskClient, data: bytes, **fields: str):
    """POST /upload as multipart to a node's URL or to the master's test client: the
    status, and the error code if any."""
    if isinstance(url_or_client, str):
        reply = requests.post(
            f"{url_or_client}/upload",
            files={"file": ("f.bin", data)},
            data=fields,
            timeout=TIMEOUT,
        )
        body = reply.json()
        return reply.status_code, body.get("error", {}).get("code"), body
    form = {"file": (io.BytesIO(data), "f.bin"), **fields}
    answer = url_or_client.post("/upload", data=form, content_type="multipart/form-data")
    return answer.status_code, (answer.json.get("error") or {}).get("code"), answer.json


def blobs_on(node: Flask) -> list[Path]:
    return [p for p in (Path(node.config["DATA_DIR"]) / "blobs").rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    "spec, status",
    [
        ("bytes=10-19", 206),
        ("bytes=-5", 206),
        ("bytes=1000-", 206),
        ("bytes=1024-", 416),  # valid, but outside the 1024 bytes
        ("bytes=5000-6000", 416),
        ("bytes=abc", 200),  # not valid syntax: ignored (RFC 9110, 14.2)
        ("bytes=5-2", 200),
        ("bytes=0-1,", 200),
        ("items=0-1", 200),  # another unit: ignored
        ("bytes=0-1,5-6", 200),  # several ranges: ignored (no multipart/byteranges)
    ],
)
def test_a_range_gets_the_same_answer_from_the_master_and_the_node(master, node, spec, status):
    assert post_file(master, PAYLOAD)[0] == 200
    through_master = master.get(f"/download?hash={DIGEST}&proxy=1", headers={"Range": spec})
    from_node = requests.get(
        f"{node[1]}/retrieve", params={"hash": DIGEST}, headers={"Range": spec}, timeout=TIMEOUT
    )
    assert through_master.status_code == from_node.status_code == status
    for name in ("Content-Range", "Content-Length", "ETag"):
        assert through_master.headers.get(name) == from_node.headers.get(name), name
    if status == 416:
        assert through_master.json["error"]["code"] == "range_not_satisfiable"
        assert from_node.json()["error"]["code"] == "range_not_satisfiable"
        assert from_node.headers["Content-Range"] == f"bytes */{len(PAYLOAD)}"
    else:
        assert through_master.data == from_node.content
        assert from_node.content == (PAYLOAD if status == 200 else from_node.content)


def test_if_range_and_if_none_match_follow_one_rule_too(master, node):
    post_file(master, PAYLOAD)
    cases = [
        ({"Range": "bytes=0-3", "If-Range": f'"{DIGEST}"'}, 206),
        ({"Range": "bytes=0-3", "If-Range": '"other"'}, 200),
        ({"Range": "bytes=0-3", "If-Range": "Tue, 1 Jan 2030 00:00:00 GMT"}, 200),
        ({"If-None-Match": f'"{DIGEST}"'}, 304),
        ({"If-None-Match": f'"{DIGEST}"', "Range": "bytes=5000-"}, 304),
    ]
    for headers, status in cases:
        through_master = master.get(f"/download?hash={DIGEST}&proxy=1", headers=headers)
        from_node = requests.get(
            f"{node[1]}/retrieve", params={"hash": DIGEST}, headers=headers, timeout=TIMEOUT
        )
        assert through_master.status_code == from_node.status_code == status, headers


def test_an_upper_case_hash_is_found_by_the_master_as_by_the_node(master, node):
    assert post_file(master, PAYLOAD)[0] == 200
    upper = DIGEST.upper()
    from_node = requests.get(f"{node[1]}/retrieve", params={"hash": upper}, timeout=TIMEOUT)
    assert from_node.status_code == 200 and from_node.content == PAYLOAD
    assert master.get(f"/get?hash={upper}").json["hash"] == DIGEST
    hop = master.get(f"/download?hash={upper}")
    assert hop.status_code == 302 and hop.headers["Location"].endswith(f"hash={DIGEST}")
    assert master.get(f"/download?hash={upper}&proxy=1").data == PAYLOAD
    assert master.get(f"/files/{upper}/blocks").json["hash"] == DIGEST
    # A key that is not a SHA-256 digest keeps its case, as the reference's "test123".
    master.post("/register", json={"hash": "Test123", "name": "t", "size": 1})
    assert master.get("/get?hash=Test123").status_code == 200
    assert master.get("/get?hash=test123").status_code == 404
    assert master.delete(f"/files/{upper}").json["deleted"] == DIGEST
    assert master.get(f"/get?hash={DIGEST}").status_code == 404


@pytest.mark.parametrize("size", [len(PAYLOAD), 3 * MIN_BLOCK_SIZE + 7])  # one block, several
def test_the_masters_multipart_upload_checks_the_hash_field_as_a_node_does(master, node, size):
    data = os.urandom(size)
    wrong = hashlib.sha256(b"other bytes").hexdigest()
    for target in (master, node[1]):
        assert post_file(target, data, hash=wrong)[:2] == (400, "hash_mismatch")
        assert post_file(target, data, hash="xyz")[:2] == (400, "invalid_hash")
    wrong_query = master.post(
        f"/upload?hash={wrong}",
        data={"file": (io.BytesIO(data), "f.bin")},
        content_type="multipart/form-data",
    )
    assert wrong_query.json["error"]["code"] == "hash_mismatch"
    raw = master.put(f"/upload/f.bin?hash={wrong}", data=data)
    assert raw.json["error"]["code"] == "hash_mismatch"
    # Nothing registered; a blob of one block never reached the node (blocks of a
    # larger file are an abandoned upload's, for garbage collection).
    assert master.get("/list").json == []
    if size == len(PAYLOAD):
        assert blobs_on(node[0]) == []
    right = hashlib.sha256(data).hexdigest()
    status, _code, body = post_file(master, data, hash=right.upper())
    assert status == 200 and body["hash"] == right
    assert post_file(node[1], data, hash=right.upper())[0] == 200


def ask_fast(app: Flask, target: str):
    handler = app.extensions[FAST_PATH].handler
    response = handler(FastRequest(b"POST", target.encode(), {}, b""))
    assert response is not None, target
    return response.status, json.loads(response.body)


@pytest.mark.parametrize(
    "count", ["-5", "0", "101", "9" * 5000, "x", "", "1.5", "1e2", "%2B1", "%202"]
)
def test_assign_refuses_a_bad_count_alike_on_both_paths(master, count):
    target = f"/assign?count={count}"
    fast = ask_fast(master.application, target)
    view = master.post(target)
    assert fast == (view.status_code, view.json)
    assert fast[0] == 400 and fast[1]["error"]["code"] == "invalid_field"
    assert fast[1]["error"]["field"] == "count"


@pytest.mark.parametrize("target", ["/assign", "/assign?count=1", "/assign?count=100"])
def test_assign_takes_a_good_count_alike_on_both_paths(master, node, target):
    fast = ask_fast(master.application, target)
    assert fast == (200, master.post(target).json)
    assert fast[1]["upload_url"] == f"{node[1]}/upload"
