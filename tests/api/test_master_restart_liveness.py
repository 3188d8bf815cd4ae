"""A master (worker) started after its nodes' last beats counts them as heard at its
start (#20): restarted after more than NODE_TIMEOUT, it sends reads and writes to them at
once instead of answering 503 until they beat again; without beats they still go down."""

from __future__ import annotations

import time

from app.factory import create_app
from tests.support.apps import make_client

NODE = {"node": "8001", "url": "http://127.0.0.1:8001"}
TIMEOUT = 0.5


def master(tmp_path):
    config = {"DATA_DIR": str(tmp_path / "master"), "BACKGROUND_TASKS": False}
    app = create_app("master", {**config, "NODE_TIMEOUT": TIMEOUT})
    return app, make_client(app)


def test_nodes_beaten_before_a_restart_are_live_for_node_timeout_after_it(tmp_path):
    first, client = master(tmp_path)
    beat = {**NODE, "capacity_bytes": 10**12, "free_bytes": 10**12, "used_bytes": 0, "files": 0}
    assert client.post("/nodes/heartbeat", json=beat).status_code == 200
    assert client.post("/assign").status_code == 200
    first.extensions["mdbx.master"].index.close()
    time.sleep(TIMEOUT + 0.2)  # the master "down" for longer than NODE_TIMEOUT

    second, client = master(tmp_path)
    try:
        answer = client.post("/assign")
        assert answer.status_code == 200, answer.json
        assert answer.json["upload_url"] == "http://127.0.0.1:8001/upload"
        time.sleep(TIMEOUT + 0.2)  # and still no beat: down
        assert client.post("/assign").status_code == 503
    finally:
        second.extensions["mdbx.master"].index.close()


def test_a_node_new_to_the_cluster_is_placed_on_by_every_worker_at_once(tmp_path):
    """Two workers of one master: a node whose first beat one of them takes is in the other's
    list of live nodes at once, not after that list's cache expires (an upload there would
    have found one node of R = 2: 503 insufficient_replicas right after start)."""
    (one, one_client), (other, _) = master(tmp_path), master(tmp_path)
    try:
        stats = {"capacity_bytes": 10**12, "free_bytes": 10**12, "used_bytes": 0, "files": 0}
        assert one_client.post("/nodes/heartbeat", json={**NODE, **stats}).status_code == 200
        directory = other.extensions["mdbx.master"].directory
        assert [node.id for node in directory.live_nodes()] == ["8001"]  # now cached
        second = {"node": "8002", "url": "http://127.0.0.1:8002", **stats}
        assert one_client.post("/nodes/heartbeat", json=second).status_code == 200
        assert sorted(node.id for node in directory.live_nodes()) == ["8001", "8002"]
    finally:
        for app in (one, other):
            app.extensions["mdbx.master"].index.close()
