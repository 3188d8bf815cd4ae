"""The master keeps knowing a hash from granting anything (#17): announcing, registering
and the global catalogue treat content that only signed URLs read as absent.

Private content is what the master's private write leaves (``FileCatalogue.register`` of
a record with ``public=False``, its copies private) or what a node registers as a private
copy: set up here through those calls, as there are no nodes behind this master.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from app.factory import create_app
from app.metadata.records import FileRecord
from app.security import CLUSTER_HEADER
from tests.support.apps import make_client, serve_app

BLOCK = 64 * 1024
SECRET_BODY = b"alice's private bytes\n"
SECRET = hashlib.sha256(SECRET_BODY).hexdigest()
SECRET_KEY = "test-cluster-secret-0123456789"


def beat(master, port: int, **headers: str) -> dict:
    reply = master.post(
        "/nodes/heartbeat",
        json={"node": str(port), "url": f"http://127.0.0.1:{port}", "free_bytes": 1 << 30},
        headers=headers,
    )
    assert reply.status_code == 200, reply.json
    return reply.json


def register_copy(master, port: int, digest: str, size: int, kind: str = "block", **extra):
    """What a node sends once it stored a copy (a client's PUT, or a repair pull)."""
    copy = {"hash": digest, "name": digest, "size": size, "kind": kind, **extra}
    reply = master.post(
        "/nodes/register",
        json={"node": str(port), "url": f"http://127.0.0.1:{port}", "copies": [copy]},
    )
    assert reply.status_code == 200, reply.json


def store_private(app, digest: str = SECRET, size: int = len(SECRET_BODY), on=("8001",)) -> None:
    """What the master's private write (the per-user API's PUT) records."""
    app.extensions["mdbx.master"].store.register(
        FileRecord(digest, "secret.txt", size, tuple(on), public=False)
    )


def plan(digest: str, size: int, blocks: list[str]) -> dict:
    return {"name": "mine.bin", "size": size, "hash": digest, "block_size": BLOCK, "blocks": blocks}


def error(response) -> tuple[int, str]:
    return response.status_code, response.json["error"]["code"]


@pytest.fixture
def master(master_app):
    client = make_client(master_app)
    beat(client, 8001)
    beat(client, 8002)
    return client


def test_announcing_private_content_is_answered_as_if_it_were_absent(master, master_app):
    store_private(master_app)
    for size in (len(SECRET_BODY), len(SECRET_BODY) + 1):  # no size check either
        begun = master.post("/uploads", json=plan(SECRET, size, [SECRET]))
        assert begun.status_code == 200, begun.json
        assert begun.json["complete"] is False and begun.json["upload_id"]
        assert [m["hash"] for m in begun.json["missing"]] == [SECRET]
        assert begun.json["missing"][0]["size"] == size  # the announced one, not the stored
    upload_id = begun.json["upload_id"]
    assert master.get(f"/uploads/{upload_id}").json["missing"][0]["hash"] == SECRET
    refused = master.post(f"/uploads/{upload_id}/commit")
    assert error(refused) == (409, "blocks_missing")
    assert master.get("/get", query_string={"hash": SECRET}).status_code == 404


def test_an_upload_completes_once_the_private_block_was_sent(master, master_app):
    store_private(master_app)
    begun = master.post("/uploads", json=plan(SECRET, len(SECRET_BODY), [SECRET])).json
    # The client PUT the bytes to a node, which checked them and registers a public copy.
    register_copy(master, 8002, SECRET, len(SECRET_BODY), kind="file")
    committed = master.post(f"/uploads/{begun['upload_id']}/commit")
    assert committed.status_code == 200, committed.json
    assert committed.json["replicas"] == ["8002"]  # the public copy only
    assert master.get("/get", query_string={"hash": SECRET}).json["replicas"] == ["8002"]


def test_a_private_block_counts_as_missing_a_public_one_does_not(master):
    private_block, public_block = os.urandom(BLOCK), os.urandom(100)
    hashes = [hashlib.sha256(b).hexdigest() for b in (private_block, public_block)]
    register_copy(master, 8001, hashes[0], BLOCK, private=True)  # a repair copy, say
    register_copy(master, 8001, hashes[1], 100)  # sent by a client
    whole = hashlib.sha256(private_block + public_block).hexdigest()
    begun = master.post("/uploads", json=plan(whole, BLOCK + 100, hashes)).json
    assert [m["hash"] for m in begun["missing"]] == [hashes[0]]
    # Neither block is a file of the global catalogue: a private copy publishes nothing.
    assert master.get("/list").json == []


def test_register_leaves_private_content_alone(master, master_app):
    store_private(master_app, on=("8001",))
    store = master_app.extensions["mdbx.master"].store
    block = hashlib.sha256(b"a private block").hexdigest()
    register_copy(master, 8002, block, 15, private=True)
    for digest in (SECRET, block):
        for kind in ("file", "block"):
            claim = {"hash": digest, "name": "renamed", "size": 5, "replicas": ["8003"]}
            refused = master.post("/register", json={**claim, "kind": kind})
            assert error(refused) == (409, "hash_taken")
    record = store.get(SECRET)
    assert (record.name, record.size, record.replicas, record.public) == (
        "secret.txt",
        len(SECRET_BODY),
        ("8001",),
        False,
    )
    assert store.blob_copies([block]) == {block: ("8002",)}
    assert master.get("/get", query_string={"hash": SECRET}).status_code == 404
    assert master.get("/list").json == []
    # Public content is registered and renamed as before.
    mine = {"hash": "test123", "name": "test.txt", "size": 1024, "replicas": ["8001"]}
    assert master.post("/register", json=mine).status_code == 200
    renamed = master.post("/register", json={**mine, "name": "again.txt"})
    assert renamed.status_code == 200 and renamed.json["file"]["name"] == "again.txt"


def test_a_public_record_shows_and_reads_only_public_copies(master, master_app):
    # A record registered before the content arrived privately (the reference's /register
    # needs no bytes) must not lead to the private copies.
    claim = {"hash": SECRET, "name": "claimed.txt", "size": 1, "replicas": ["8001"]}
    assert master.post("/register", json=claim).status_code == 200
    store_private(master_app, on=("8002",))
    described = master.get("/get", query_string={"hash": SECRET}).json
    assert described["replicas"] == ["8001"]
    assert [loc["node"] for loc in described["locations"]] == ["8001"]
    assert [f["replicas"] for f in master.get("/list").json] == [["8001"]]
    for _ in range(10):
        location = master.get("/download", query_string={"hash": SECRET}).headers["Location"]
        assert location.startswith("http://127.0.0.1:8001/")
    (block,) = master.get(f"/files/{SECRET}/blocks").json["blocks"]
    assert block["urls"] == ["http://127.0.0.1:8001"]
    again = master.post("/uploads", json=plan(SECRET, len(SECRET_BODY), [SECRET])).json
    assert again["complete"] is True and again["file"]["replicas"] == ["8001"]


def test_answers_to_nodes_carry_the_node_list_and_the_open_mode_key(master, master_app, tmp_path):
    answer = beat(master, 8001)
    assert answer["nodes"] == ["http://127.0.0.1:8001", "http://127.0.0.1:8002"]
    assert len(answer["signing_key"]) >= 32
    # Every master on the database (and every worker) has the same key.
    sibling = create_app(
        "master", {"DATA_DIR": master_app.config["DATA_DIR"], "BACKGROUND_TASKS": False}
    )
    try:
        assert beat(make_client(sibling), 8002)["signing_key"] == answer["signing_key"]
    finally:
        sibling.extensions["mdbx.master"].index.close()


def test_an_inventory_keeps_private_copies_private_and_says_so(master, master_app, make_node_app):
    store_private(master_app, on=("8001",))
    found = b"never seen by this catalogue"
    new_public = hashlib.sha256(found).hexdigest()
    # A node whose catalogue was rebuilt from its disk: every copy public. The master
    # checks a sample of the copies new to it on the node itself.
    node_app = make_node_app()
    for body in (SECRET_BODY, found):
        assert make_client(node_app).put("/upload?register=0", data=body).status_code == 200
    report = {
        "files": [
            {"hash": SECRET, "name": "x", "size": len(SECRET_BODY), "kind": "file"},
            {"hash": new_public, "name": "found.bin", "size": len(found), "kind": "file"},
        ]
    }
    with serve_app(node_app) as url:
        for port in (8001, 8002):  # 8002: a copy the catalogue did not know of
            answer = master.post("/nodes/inventory", json={"node": str(port), "url": url, **report})
            assert answer.status_code == 200 and answer.json["refused"] == []
            assert answer.json["private"] == [SECRET]
            assert answer.json["nodes"] and answer.json["signing_key"]
    store = master_app.extensions["mdbx.master"].store
    assert store.blob_copies([SECRET], public_only=True) == {SECRET: ()}
    listed = master.get("/list").json
    assert [f["hash"] for f in listed] == [new_public]  # a file the catalogue had lost


@pytest.fixture
def secured(tmp_path: Path):
    app = create_app(
        "master",
        {"DATA_DIR": str(tmp_path / "s"), "BACKGROUND_TASKS": False, "CLUSTER_SECRET": SECRET_KEY},
    )
    yield app
    app.extensions["mdbx.master"].index.close()


def test_in_secured_mode_too_announcing_or_registering_private_content_grants_nothing(secured):
    cluster = {CLUSTER_HEADER: SECRET_KEY}
    master = make_client(secured)
    answer = beat(master, 8001, **cluster)
    assert answer["nodes"] == ["http://127.0.0.1:8001"] and "signing_key" not in answer
    store_private(secured)
    begun = master.post("/uploads", json=plan(SECRET, 3, [SECRET]), headers=cluster)
    assert begun.status_code == 200 and begun.json["complete"] is False
    assert [m["hash"] for m in begun.json["missing"]] == [SECRET]
    claim = {"hash": SECRET, "name": "mine.txt", "size": 3, "replicas": ["8001"]}
    assert error(master.post("/register", json=claim, headers=cluster)) == (409, "hash_taken")
    assert master.get("/get", query_string={"hash": SECRET}, headers=cluster).status_code == 404


@pytest.fixture
def private_node(master_app, make_node_app):
    """A real node on loopback holding SECRET_BODY as a private copy, whose master is
    ``master_app`` served over HTTP; yields (node app, its URL)."""
    with serve_app(master_app) as master_url:
        node = make_node_app(MASTER=master_url)
        stored = make_client(node).put("/upload?register=0&private=1", data=SECRET_BODY)
        assert stored.status_code == 200
        with serve_app(node) as url:
            yield node, url


def test_the_inventory_check_finds_a_private_copy_with_a_token(master, private_node):
    node, url = private_node
    report = {
        "node": "8009",
        "url": url,
        "files": [
            {
                "hash": SECRET,
                "name": SECRET,
                "size": len(SECRET_BODY),
                "kind": "block",
                "private": True,
            }
        ],
    }
    # Before the node heard the key it can check no token: refused, reported again later.
    assert master.post("/nodes/inventory", json=report).json["refused"] == [SECRET]
    node.extensions["mdbx.node"].sync.beat()  # its master's answer brings the key
    answer = master.post("/nodes/inventory", json=report).json
    assert answer["refused"] == [] and answer["private"] == [SECRET]


def test_a_copy_refused_to_an_unsigned_read_is_hidden_not_forgotten(
    master, master_app, private_node
):
    node, url = private_node
    node.extensions["mdbx.node"].sync.beat()
    assert master.post("/nodes/heartbeat", json={"node": "8009", "url": url}).status_code == 200
    # The catalogue wrongly holds the node's copy public (a node of an earlier release
    # registered it so, say) and a public record leads to it.
    register_copy(master, 8009, SECRET, len(SECRET_BODY), kind="file")
    assert master.post("/nodes/heartbeat", json={"node": "8009", "url": url}).status_code == 200
    read = master.get("/download", query_string={"hash": SECRET, "proxy": "1"})
    assert read.status_code == 503 and read.data != SECRET_BODY
    store = master_app.extensions["mdbx.master"].store
    assert store.blob_copies([SECRET]) == {SECRET: ("8009",)}  # still there...
    assert store.blob_copies([SECRET], public_only=True) == {SECRET: ()}  # ... private
