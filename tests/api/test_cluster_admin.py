"""What the cluster page reads and does, through the Flask test client: an administrator's
session cookie opens the cluster endpoints in secured mode (with CSRF on the repair it
starts), nodes report their scrubbing in heartbeats, and /cluster/health says what the
last repair passes did."""

from __future__ import annotations

import re

import pytest

from app.factory import create_app
from app.security import CLUSTER_HEADER
from tests.support.apps import make_client

SECRET = "test-cluster-secret-0123456789"
CLUSTER = {CLUSTER_HEADER: SECRET}


@pytest.fixture
def secured(tmp_path):
    app = create_app(
        "master",
        {"DATA_DIR": str(tmp_path / "master"), "BACKGROUND_TASKS": False, "CLUSTER_SECRET": SECRET},
    )
    client = make_client(app)
    for name, admin in (("alice", False), ("root", True)):
        added = client.post(
            "/api/admin/users",
            json={"username": name, "password": f"pw-{name}", "admin": admin},
            headers=CLUSTER,
        )
        assert added.status_code == 200, added.json
    yield client
    app.extensions["mdbx.master"].index.close()


def log_in(client, name: str) -> str:
    """Log in through the form; return the CSRF token of the page it leads to."""
    reply = client.post("/login", data={"username": name, "password": f"pw-{name}"})
    assert reply.status_code == 303
    page = client.get("/account").get_data(as_text=True)
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page)
    assert found
    return found.group(1)


def beat(client, port: int, **extra):
    payload = {"node": str(port), "url": f"http://127.0.0.1:{port}", "free_bytes": 5, **extra}
    return client.post("/nodes/heartbeat", json=payload, headers=CLUSTER)


def test_an_admin_cookie_opens_the_cluster_endpoints(secured):
    assert secured.get("/nodes").status_code == 401
    csrf = log_in(secured, "root")
    assert beat(secured, 8001).status_code == 200
    nodes = secured.get("/nodes")
    assert nodes.status_code == 200 and [n["id"] for n in nodes.json] == ["8001"]
    assert secured.get("/cluster/health").json["nodes_up"] == 1
    refused = secured.post("/cluster/repair")
    assert refused.status_code == 403 and refused.json["error"]["code"] == "csrf_failed"
    ran = secured.post("/cluster/repair", headers={"X-CSRF-Token": csrf})
    assert ran.status_code == 200 and ran.json["copied"] == 0
    # The node-facing endpoints stay the cluster's own.
    payload = {"node": "8002", "url": "http://127.0.0.1:8002"}
    by_cookie = secured.post("/nodes/heartbeat", json=payload, headers={"X-CSRF-Token": csrf})
    assert by_cookie.status_code == 401


def test_a_user_cookie_is_not_enough(secured):
    csrf = log_in(secured, "alice")
    refused = secured.get("/nodes")
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    assert secured.post("/cluster/repair", headers={"X-CSRF-Token": csrf}).status_code == 403
    assert secured.get("/admin").status_code == 403


def test_heartbeats_carry_the_scrubbing(secured):
    scrub = {
        "started_at": 1000.0,
        "finished_at": 1010.5,
        "seconds": 10.5,
        "checked": 42,
        "corrupt": 1,
        "missing": 2,
    }
    assert beat(secured, 8001, scrub=scrub).status_code == 200
    assert beat(secured, 8002).status_code == 200  # a node that says nothing of it
    nodes = {n["id"]: n for n in secured.get("/nodes", headers=CLUSTER).json}
    assert nodes["8001"]["scrub"] == {**scrub, "running": False}
    assert nodes["8002"]["scrub"]["finished_at"] is None
    assert nodes["8002"]["scrub"]["checked"] == 0
    running = {**scrub, "started_at": 2000.0}
    assert beat(secured, 8001, scrub=running).status_code == 200
    nodes = {n["id"]: n for n in secured.get("/nodes", headers=CLUSTER).json}
    assert nodes["8001"]["scrub"]["running"] is True
    for bad in ("yes", {"checked": -1}, {"seconds": "long"}, {"corrupt": True}):
        reply = beat(secured, 8001, scrub=bad)
        assert reply.status_code == 400, bad
        assert reply.json["error"]["code"] == "invalid_field"


def test_cluster_health_tells_the_last_repair_pass(secured):
    before = secured.get("/cluster/health", headers=CLUSTER).json
    assert before["repair"] == {"last_pass": None, "last_work": None}
    assert secured.post("/cluster/repair", headers=CLUSTER).status_code == 200
    after = secured.get("/cluster/health", headers=CLUSTER).json["repair"]
    assert after["last_pass"]["trigger"] == "manual"
    assert after["last_pass"]["copied"] == 0 and after["last_pass"]["unavailable"] == 0
    assert after["last_pass"]["started_at"] > 0
    assert after["last_work"] is None  # nothing was copied, trimmed or failed
