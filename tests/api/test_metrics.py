"""/metrics and /ready on both roles: the families, a request counted on either path."""

from __future__ import annotations

import hashlib
import os
import time

from prometheus_client.parser import text_string_to_metric_families

from app.security import CLUSTER_HEADER
from app.server.connection import FAST_PATH, FastRequest
from tests.support.apps import make_client

BODY = b"counted bytes\n" * 50
DIGEST = hashlib.sha256(BODY).hexdigest()


def samples(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain; version=")
    found = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_nodes_metrics_name_its_families_in_prometheus_form(node_client):
    node_client.put(f"/upload?name=a.txt&register=0&hash={DIGEST}", data=BODY)
    found = samples(node_client)
    names = {name for name, _ in found}
    for family in (
        "mdbx_http_requests_total",
        "mdbx_http_request_duration_seconds_bucket",
        "mdbx_http_request_bytes_total",
        "mdbx_blobs_stored",
        "mdbx_stored_bytes",
        "mdbx_free_bytes",
        "mdbx_scrub_last_checked_blobs",
    ):
        assert family in names, family
    assert value(found, "mdbx_blobs_stored") == 1
    assert value(found, "mdbx_stored_bytes") == len(BODY)
    assert value(found, "mdbx_free_bytes") > 0
    # Never a raw path as a label: the Flask endpoint names it.
    assert all("/" not in dict(labels).get("endpoint", "") for _, labels in found)


def test_a_flask_request_is_counted_by_endpoint_status_class_and_bytes(node_client):
    before = samples(node_client)
    assert node_client.put("/upload?name=a.txt&register=0", data=BODY).status_code == 200
    assert node_client.get(f"/retrieve?hash={'0' * 64}").status_code == 404
    after = samples(node_client)
    up = ("mdbx_http_requests_total", {"endpoint": "node.upload", "status": "2xx"})
    missing = ("mdbx_http_requests_total", {"endpoint": "node.retrieve", "status": "4xx"})
    for name, labels in (up, missing):
        assert value(after, name, **labels) - value(before, name, **labels) == 1
    got = value(after, "mdbx_http_request_bytes_total", endpoint="node.upload")
    assert got - value(before, "mdbx_http_request_bytes_total", endpoint="node.upload") == len(BODY)
    count = "mdbx_http_request_duration_seconds_count"
    assert value(after, count, endpoint="node.upload") > value(
        before, count, endpoint="node.upload"
    )


def test_an_overlay_answer_feeds_the_same_family_as_the_view(node_app):
    client = make_client(node_app)
    client.put("/upload?name=a.txt&register=0", data=BODY)
    before = samples(client)
    fast = node_app.extensions[FAST_PATH]
    response = fast.handler(FastRequest(b"GET", f"/retrieve?hash={DIGEST}".encode(), {}))
    assert response is not None and response.endpoint == "node.retrieve"
    os.close(response.fd)
    response.fd = -1
    assert fast.observe is not None
    fast.observe(response, 0.0001, 0)  # what the connection loop does once it is sent
    after = samples(client)
    labels = {"endpoint": "node.retrieve", "status": "2xx"}
    assert (
        value(after, "mdbx_http_requests_total", **labels)
        - value(before, "mdbx_http_requests_total", **labels)
        == 1
    )
    sent = "mdbx_http_response_bytes_total"
    assert value(after, sent, endpoint="node.retrieve") - value(
        before, sent, endpoint="node.retrieve"
    ) == len(BODY)


def test_a_path_no_route_has_is_counted_as_unmatched(node_client):
    before = samples(node_client)
    assert node_client.get("/no/such/path/123").status_code == 404
    after = samples(node_client)
    labels = {"endpoint": "unmatched", "status": "4xx"}
    name = "mdbx_http_requests_total"
    assert value(after, name, **labels) - value(before, name, **labels) == 1


def test_the_masters_metrics_count_nodes_and_blobs(master_client):
    beat = {"node": "n1", "url": "http://127.0.0.1:1", "free_bytes": 12345}
    assert master_client.post("/nodes/heartbeat", json=beat).status_code == 200
    found = samples(master_client)
    assert value(found, "mdbx_cluster_nodes", state="up") == 1
    assert value(found, "mdbx_cluster_nodes", state="down") == 0
    assert value(found, "mdbx_cluster_replication") == 2
    for state in ("healthy", "degraded", "under_replicated", "unavailable", "lost"):
        assert ("mdbx_cluster_blobs", (("state", state),)) in found, state
    assert value(found, "mdbx_node_free_bytes", node="n1") == 12345
    assert ("mdbx_repair_last_pass_timestamp_seconds", ()) in found


def test_master_ready_is_503_naming_the_nodes_when_none_is_live(master_client):
    answer = master_client.get("/ready")
    assert answer.status_code == 503
    body = answer.get_json()
    assert body["status"] == "not ready" and body["failing"] == ["nodes"]
    assert body["checks"]["metadata"] == "ok"
    assert "0 live nodes, 2 needed" in body["checks"]["nodes"]
    assert body["error"]["code"] == "not_ready"


def test_master_ready_is_200_once_r_nodes_beat(master_client):
    for node in ("n1", "n2"):
        beat = {"node": node, "url": f"http://127.0.0.1:{node[1]}"}
        assert master_client.post("/nodes/heartbeat", json=beat).status_code == 200
    answer = master_client.get("/ready")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {
        "status": "ready",
        "role": "master",
        "checks": {"metadata": "ok", "nodes": "ok"},
    }


def test_node_ready_checks_its_catalogue_and_disk(node_app, node_client):
    answer = node_client.get("/ready")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["checks"] == {"metadata": "ok", "disk": "ok"}
    tmp_dir = node_app.extensions["mdbx.node"].blobs.tmp_dir
    os.chmod(tmp_dir, 0o500)
    try:
        if os.access(tmp_dir, os.W_OK):  # root writes anyway: make the path a file instead
            os.chmod(tmp_dir, 0o700)
            os.rename(tmp_dir, f"{tmp_dir}.moved")
            tmp_dir.write_bytes(b"")
        refused = node_client.get("/ready")
    finally:
        if tmp_dir.is_file():
            tmp_dir.unlink()
            os.rename(f"{tmp_dir}.moved", tmp_dir)
        os.chmod(tmp_dir, 0o700)
    assert refused.status_code == 503
    assert refused.get_json()["failing"] == ["disk"]
    assert "takes no write" in refused.get_json()["checks"]["disk"]


def test_probes_and_scrapers_need_no_credentials_in_secured_mode(make_node_app):
    client = make_client(make_node_app(CLUSTER_SECRET="s" * 32))
    assert client.get("/metrics").status_code == 200
    assert client.get("/ready").status_code == 200
    assert client.put("/upload?name=a.txt&register=0", data=BODY).status_code in (401, 403)
    assert (
        client.put(
            "/upload?name=a.txt&register=0", data=BODY, headers={CLUSTER_HEADER: "s" * 32}
        ).status_code
        == 200
    )


def test_scrape_time_facts_are_kept_a_few_seconds(node_client):
    first = value(samples(node_client), "mdbx_blobs_stored")
    node_client.put("/upload?name=a.txt&register=0", data=BODY)
    # Within the cache's seconds the fact is what the first scrape computed.
    started = time.monotonic()
    cached = value(samples(node_client), "mdbx_blobs_stored")
    if time.monotonic() - started < 4:
        assert cached == first == 0
