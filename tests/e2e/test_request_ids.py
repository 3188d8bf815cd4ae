"""Request ids and JSON logs (#20): every answer of every role carries ``X-Request-Id``
(the client's own when it sent a plain one), the master passes it on to the nodes it
calls for that request, and with LOG_FORMAT=json each process writes one JSON object a
line that names it, on both of a worker's loops (gunicorn's and the fast path's)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import requests

from localcluster.launcher import Cluster, Role, wait_until

TIMEOUT = 10
# Debug: the master's calls to its node (cluster calls) get access lines too.
JSON_LOGS = {"MDBX_LOG_FORMAT": "json", "MDBX_LOG_LEVEL": "debug", "MDBX_REPLICATION": "1"}


def json_lines(role: Role) -> list[dict]:
    """Every line the process wrote, each of which must be one JSON object."""
    lines = Path(role.log_path).read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def requests_logged(role: Role, request_id: str) -> list[dict]:
    return [e for e in json_lines(role) if e.get("request_id") == request_id]


@pytest.fixture(scope="module")
def json_cluster(module_spawn) -> Cluster:
    """One for both tests: each looks in the logs only for the ids it sent or was given,
    and every line of them, the other test's too, must be JSON."""
    return module_spawn(nodes=1, env=JSON_LOGS)


def test_a_request_id_travels_from_the_master_to_its_node_and_into_both_logs(json_cluster):
    cluster = json_cluster
    master, node = cluster.master, cluster.nodes[0]
    payload = b"traced bytes\n" * 100
    digest = hashlib.sha256(payload).hexdigest()

    stored = requests.put(
        f"{master.url}/upload/traced.txt",
        data=payload,
        headers={"X-Request-Id": "trace-42"},
        timeout=TIMEOUT,
    )
    assert stored.status_code == 200, stored.text
    assert stored.headers["X-Request-Id"] == "trace-42"

    # The master's access line and the node's line for the write it received, both JSON.
    def both_logged() -> bool:
        return bool(requests_logged(master, "trace-42")) and bool(requests_logged(node, "trace-42"))

    wait_until(both_logged, deadline=5)  # the fast path's lines go out every second
    (mine,) = [e for e in requests_logged(master, "trace-42") if e["kind"] == "access"]
    assert (mine["method"], mine["path"], mine["status"]) == ("PUT", "/upload/traced.txt", 200)
    assert mine["process"].startswith("mdbx-master-") and mine["ms"] >= 0
    forwarded = [e for e in requests_logged(node, "trace-42") if e["kind"] == "access"]
    assert forwarded and all(e["method"] == "PUT" and e["status"] == 200 for e in forwarded)

    # Read back: the node's fast path names a request it was not given an id for.
    got = requests.get(f"{node.url}/retrieve", params={"hash": digest}, timeout=TIMEOUT)
    assert got.content == payload
    made = got.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{18,}", made), made
    again = requests.get(f"{node.url}/retrieve", params={"hash": digest}, timeout=TIMEOUT)
    assert again.headers["X-Request-Id"] != made
    wait_until(lambda: requests_logged(node, made), deadline=5)
    # gunicorn's own records (its start, the workers' boots) are JSON too: every line parsed.
    assert any(e["kind"] == "log" for e in json_lines(master))


def test_an_id_that_is_not_a_plain_token_is_replaced_and_errors_carry_one(json_cluster):
    master = json_cluster.master
    odd = requests.get(
        f"{master.url}/download",
        params={"hash": "0" * 64},
        headers={"X-Request-Id": "two words"},
        timeout=TIMEOUT,
    )
    assert odd.status_code == 404 and odd.json()["error"]["code"]
    assert odd.headers["X-Request-Id"] not in ("", "two words")
    bad = requests.get(
        f"{master.url}/api/list", headers={"X-Request-Id": "x" * 129}, timeout=TIMEOUT
    )
    assert bad.status_code == 401 and bad.json()["error"]["code"]
    assert len(bad.headers["X-Request-Id"]) < 129
    health = requests.get(f"{master.url}/health", headers={"X-Request-Id": "h-1"}, timeout=TIMEOUT)
    assert health.headers["X-Request-Id"] == "h-1"
