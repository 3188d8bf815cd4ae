"""A quiet access log (#20): at info a master's and a node's logs show people's requests,
not the cluster's own calls (heartbeats, registrations, inventories, probes, copies
between roles); LOG_LEVEL=debug shows those too. Both of a worker's loops are covered:
heartbeats and inventories go through gunicorn's, registrations and a node's small
PUTs through the fast path."""

from __future__ import annotations

import os
import time

import requests

from localcluster.launcher import Role, wait_until

TIMEOUT = 10
BEATS = {"MDBX_SYNC_INTERVAL": "0.2", "MDBX_NODE_PROBE_INTERVAL": "0.2"}
CLUSTER_PATHS = ("/nodes/heartbeat", "/nodes/inventory", "/nodes/register", "/nodes/")


def log_of(role: Role) -> str:
    return role.log_path.read_text(errors="replace")


def access_lines(role: Role) -> list[str]:
    return [line for line in log_of(role).splitlines() if '"GET ' in line or '"P' in line]


def a_users_requests(master: Role) -> tuple[str, str]:
    """Upload through the master (its writes to the nodes are cluster calls), then
    download by a redirect that requests follows to a node; return the name and hash."""
    name = f"mine-{os.getpid()}.txt"
    stored = requests.put(f"{master.url}/upload/{name}", data=b"hello", timeout=TIMEOUT)
    assert stored.status_code == 200, stored.text
    digest = stored.json()["hash"]
    got = requests.get(f"{master.url}/download", params={"hash": digest}, timeout=TIMEOUT)
    assert got.status_code == 200 and got.content == b"hello"
    return name, digest


def upload_to_node(node: Role) -> None:
    """A user's upload straight to a node, which registers it with the master."""
    direct = requests.post(
        f"{node.url}/upload", files={"file": ("n.bin", b"direct")}, timeout=TIMEOUT
    )
    assert direct.status_code == 200, direct.text


def test_the_access_log_shows_a_users_requests_and_no_heartbeats(spawn):
    cluster = spawn(nodes=2, env=BEATS)
    master = cluster.master
    # Beats every 0.2 s: a few seconds of them, and a node upload's fast-path registration.
    upload_to_node(cluster.nodes[0])
    name, digest = a_users_requests(master)
    time.sleep(2)  # the fast path's lines go out every second
    wait_until(lambda: f"/upload/{name}" in log_of(master), deadline=5)

    lines = access_lines(master)
    assert any(f'"PUT /upload/{name} HTTP/1.1" 200' in line for line in lines), lines[-20:]
    assert any(f'"GET /download?hash={digest} HTTP/1.1" 302' in line for line in lines)
    cluster_lines = [line for line in lines if any(p in line for p in CLUSTER_PATHS)]
    assert cluster_lines == [], cluster_lines[:10]
    for node in cluster.nodes:
        node_lines = access_lines(node)
        # The master's writes and copies between nodes: none shown; of /health, only the
        # launcher's wait for the node to start (the probe asked every 0.2 s meanwhile).
        assert not [line for line in node_lines if "PUT /upload" in line]
        assert len([line for line in node_lines if "/health" in line]) <= 3, node_lines
    # The user's own call to a node is there (the redirect followed, or the direct upload).
    assert any("POST /upload" in line for line in access_lines(cluster.nodes[0]))
    assert any(
        f"/retrieve?hash={digest}" in line for node in cluster.nodes for line in access_lines(node)
    )


def test_at_debug_the_cluster_calls_are_logged_too(spawn):
    cluster = spawn(nodes=2, env={**BEATS, "MDBX_LOG_LEVEL": "debug"})
    master = cluster.master
    name, _digest = a_users_requests(master)
    upload_to_node(cluster.nodes[0])

    def heard() -> bool:
        text = log_of(master)
        return "/nodes/heartbeat" in text and "/nodes/register" in text and name in text

    wait_until(heard, deadline=10)
    probes = lambda: [line for line in access_lines(cluster.nodes[0]) if "/health" in line]  # noqa: E731
    wait_until(lambda: len(probes()) > 5, deadline=10)
