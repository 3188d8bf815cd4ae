"""What nodes report of their copies (#17): an inventory adds only copies a node really
holds (the master checks a sample on the node), and a node that lacks copies has them
forgotten at once, so that reads go elsewhere and repair replaces them.

The node is a real node app on loopback; the master runs under the test client.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from app.factory import create_app
from app.node.losses import REPORT_BATCH
from tests.support.apps import lone_node_app, make_client, serve_app

HELD = b"kept it"
HELD_HASH = hashlib.sha256(HELD).hexdigest()


def junk(i: int) -> str:
    return hashlib.sha256(f"never stored {i}".encode()).hexdigest()


@pytest.fixture
def node_url(tmp_path: Path, dead_url: str) -> Iterator[str]:
    """A node holding one blob, HELD, on loopback."""
    app = lone_node_app(tmp_path / "node", dead_url, "8001")
    stored = make_client(app).put("/upload?name=kept.txt&register=0", data=HELD)
    assert stored.json["hash"] == HELD_HASH
    with serve_app(app) as url:
        yield url


def inventory(client: FlaskClient, url: str, files: list[dict], node: str = "8001", **more):
    payload = {"node": node, "url": url, "files": files, **more}
    response = client.post("/nodes/inventory", json=payload)
    assert response.status_code == 200, response.json
    return response.json


def test_a_forged_inventory_adds_nothing(master_client, node_url, dead_url):
    forged = [{"hash": junk(i), "name": f"junk-{i}.txt", "size": 10} for i in range(2000)]
    for url in (node_url, dead_url):  # a real node that lacks them, or nothing at all
        answer = inventory(master_client, url, forged)
        assert answer["confirmed"] == 0 and len(answer["refused"]) == 2000
    assert master_client.get("/list").json == []
    assert master_client.get("/cluster/health").json["blobs"] == 0
    # Mixed into a real one: the sample finds the lie, and no new copy is recorded...
    answer = inventory(master_client, node_url, [*forged[:20], {"hash": HELD_HASH, "size": 7}])
    assert answer["confirmed"] == 0 and HELD_HASH in answer["refused"]
    assert master_client.get("/list").json == []
    # ... a wrong size is a lie too.
    assert inventory(master_client, node_url, [{"hash": HELD_HASH, "size": 8}])["refused"]


def test_an_honest_inventory_records_what_the_node_holds(master_client, node_url):
    answer = inventory(
        master_client, node_url, [{"hash": HELD_HASH, "name": "kept.txt", "size": 7}]
    )
    assert answer["confirmed"] == 1 and answer["refused"] == []
    record = master_client.get(f"/get?hash={HELD_HASH}").json
    assert (record["name"], record["replicas"]) == ("kept.txt", ["8001"])
    # Copies already placed on the node are confirmed without a look: that node may be
    # down for a moment (and a forged copy among them would still be refused).
    gone = inventory(master_client, "http://127.0.0.1:9", [{"hash": HELD_HASH, "size": 7}])
    assert gone["confirmed"] == 1 and gone["refused"] == []


def test_copies_a_node_lacks_are_forgotten_and_counted_for_repair(master_client):
    for node in ("a", "b"):
        beat = {"node": node, "url": f"http://{node}", "capacity_bytes": 10**9, "free_bytes": 10**9}
        master_client.post("/nodes/heartbeat", json=beat)
    for name in ("one", "two"):
        digest = hashlib.sha256(name.encode()).hexdigest()
        register = {"hash": digest, "name": name, "size": 3, "replicas": ["a", "b"]}
        master_client.post("/register", json=register)
    one, two = (hashlib.sha256(n.encode()).hexdigest() for n in ("one", "two"))
    assert master_client.get("/cluster/health").json["healthy"] == 2
    answer = master_client.post(
        "/nodes/bad-copy", json={"node": "a", "hashes": [one, junk(1), two.upper()]}
    ).json
    assert answer == {"node": "a", "forgotten": sorted([one, two])}
    assert master_client.get(f"/get?hash={one}").json["replicas"] == ["b"]
    health = master_client.get("/cluster/health").json
    assert health["under_replicated"] == 2 and health["healthy"] == 0
    # A node's batch of reports (app/node/losses.py sends up to REPORT_BATCH at a time).
    batch = {"node": "a", "hashes": [junk(i) for i in range(REPORT_BATCH)]}
    assert master_client.post("/nodes/bad-copy", json=batch).json["forgotten"] == []
    # The one-copy form the scrub has always sent.
    single = master_client.post("/nodes/bad-copy", json={"node": "b", "hash": one}).json
    assert single == {"node": "b", "forgotten": [one]}
    bad = master_client.post("/nodes/bad-copy", json={"node": "../x", "hashes": []})
    assert bad.status_code == 400 and bad.json["error"]["field"] == "node"


def test_complete_inventory_replaces_a_nodes_copies(master_client, node_url):
    master_client.post("/register", json={"hash": "gone", "size": 1, "replicas": ["8001", "8002"]})
    first = inventory(master_client, node_url, [{"hash": HELD_HASH, "name": "kept.txt", "size": 7}])
    assert first["confirmed"] == 1
    done = inventory(master_client, node_url, [], sync_started=first["sync_started"], complete=True)
    assert done["pruned"] == 1
    assert master_client.get("/get?hash=gone").json["replicas"] == ["8002"]
    record = master_client.get(f"/get?hash={HELD_HASH}").json
    assert (record["name"], record["size"], record["replicas"]) == ("kept.txt", 7, ["8001"])
    assert [node["id"] for node in master_client.get("/nodes").json] == ["8001"]


def test_inventory_keeps_a_name_the_master_already_knows(master_client, node_url):
    master_client.post("/register", json={"hash": HELD_HASH, "name": "latest.txt", "size": 7})
    files = [{"hash": HELD_HASH, "name": "first.txt", "size": 7}]
    assert inventory(master_client, node_url, files, node="8002")["confirmed"] == 1
    record = master_client.get(f"/get?hash={HELD_HASH}").json
    assert (record["name"], record["replicas"]) == ("latest.txt", ["8002"])


@pytest.fixture
def two_nodes(tmp_path: Path, dead_url: str) -> Iterator[dict[str, tuple[Path, str]]]:
    """Nodes a and b on loopback, sending no reports of their own (no background tasks):
    what they lack, only the master's reads can find."""
    with ExitStack() as stack:
        served = {}
        for node_id in ("a", "b"):
            settings = {
                "DATA_DIR": str(tmp_path / node_id),
                "MASTER": dead_url,
                "NODE_ID": node_id,
                "BACKGROUND_TASKS": False,
                "MIN_FREE_BYTES": 0,
            }
            url = stack.enter_context(serve_app(create_app("node", settings)))
            served[node_id] = (tmp_path / node_id, url)
        yield served


def test_a_proxied_read_that_finds_no_copy_forgets_it(master_client, two_nodes):
    for node_id, (_root, url) in two_nodes.items():
        beat = {"node": node_id, "url": url, "capacity_bytes": 10**12, "free_bytes": 10**12}
        master_client.post("/nodes/heartbeat", json=beat)
    payload = os.urandom(5000)
    form = {"file": (io.BytesIO(payload), "p.bin")}
    digest = master_client.post("/upload", data=form, content_type="multipart/form-data").json[
        "hash"
    ]
    blob = two_nodes["a"][0] / "blobs" / digest[:2] / digest[2:4] / digest
    blob.unlink()
    # The master picks a copy at random: within 40 reads it met the missing one.
    for _ in range(40):
        read = master_client.get(f"/download?hash={digest}&proxy=1")
        assert read.status_code == 200 and read.data == payload
        if master_client.get(f"/get?hash={digest}").json["replicas"] == ["b"]:
            break
    assert master_client.get(f"/get?hash={digest}").json["replicas"] == ["b"]
    assert master_client.get("/cluster/health").json["under_replicated"] == 1
