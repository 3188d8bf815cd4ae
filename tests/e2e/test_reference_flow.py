"""The reference README's curl flow and error cases, against real gunicorn processes."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from localcluster.launcher import Cluster
from tests.support.node_temp import stray_temp_files

TIMEOUT = 30


def upload(node_url: str, payload: bytes, name: str = "test.txt") -> requests.Response:
    return requests.post(f"{node_url}/upload", files={"file": (name, payload)}, timeout=TIMEOUT)


def blob_files(root: Path) -> list[Path]:
    return [p for p in (root / "blobs").rglob("*") if p.is_file()]


def test_upload_to_both_nodes_lists_both_replicas_and_retrieves_identical_bytes(cluster: Cluster):
    payload = b"Hello Mini-Dropbox!\n" + os.urandom(16)
    node1, node2 = cluster.nodes
    first = upload(node1.url, payload).json()
    second = upload(node2.url, payload).json()
    digest = hashlib.sha256(payload).hexdigest()
    assert first["hash"] == second["hash"] == digest
    assert first["registered"] is True and second["registered"] is True

    record = requests.get(f"{cluster.master.url}/get", params={"hash": digest}, timeout=TIMEOUT)
    locations = record.json().pop("locations")
    assert {loc["state"] for loc in locations} == {"up"}
    assert {k: v for k, v in record.json().items() if k != "locations"} == {
        "hash": digest,
        "name": "test.txt",
        "size": len(payload),
        "replicas": sorted([node1.url.rsplit(":", 1)[1], node2.url.rsplit(":", 1)[1]]),
    }
    listed = requests.get(f"{cluster.master.url}/list", timeout=TIMEOUT).json()
    assert [f for f in listed if f["hash"] == digest][0]["replicas"] == record.json()["replicas"]
    for node in (node1, node2):
        got = requests.get(f"{node.url}/retrieve", params={"hash": digest}, timeout=TIMEOUT)
        assert got.status_code == 200
        assert got.content == payload
        assert got.headers["ETag"] == f'"{digest}"'


def test_reference_manual_registration(cluster: Cluster):
    example = {"hash": "test123", "name": "test.txt", "size": 1024, "replicas": ["8001"]}
    response = requests.post(f"{cluster.master.url}/register", json=example, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json()["hash"] == "test123"
    got = requests.get(f"{cluster.master.url}/get?hash=test123", timeout=TIMEOUT).json()
    assert {k: v for k, v in got.items() if k != "locations"} == example


def test_upload_of_9_9_mib_round_trips(cluster: Cluster):
    payload = os.urandom(int(9.9 * 1024 * 1024))
    body = upload(cluster.nodes[0].url, payload, "big.bin").json()
    assert body["size"] == len(payload)
    got = requests.get(
        f"{cluster.nodes[0].url}/retrieve", params={"hash": body["hash"]}, timeout=TIMEOUT
    )
    assert hashlib.sha256(got.content).hexdigest() == body["hash"]
    assert got.headers["Content-Length"] == str(len(payload))


def test_oversize_upload_is_413_and_leaves_nothing_behind(cluster: Cluster):
    node = cluster.nodes[1]
    before = blob_files(node.data_dir)
    response = upload(node.url, os.urandom(11 * 1024 * 1024), "huge.bin")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert stray_temp_files(node.data_dir) == []
    assert blob_files(node.data_dir) == before


def test_chunked_oversize_upload_is_413_and_leaves_nothing_behind(cluster: Cluster):
    """Without Content-Length the cap is enforced while streaming."""
    node = cluster.nodes[1]
    before = blob_files(node.data_dir)
    boundary = "mdbxboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'
    ).encode()

    def body():
        yield head
        for _ in range(12):
            yield b"z" * (1024 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = requests.post(
        f"{node.url}/upload",
        data=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 413
    assert stray_temp_files(node.data_dir) == []
    assert blob_files(node.data_dir) == before


def test_error_cases_are_json_with_the_right_status(cluster: Cluster):
    node, master = cluster.nodes[0].url, cluster.master.url
    cases = [
        (requests.get(f"{node}/retrieve"), 400, "invalid_hash"),
        (requests.get(f"{node}/retrieve?hash=../../etc/passwd"), 400, "invalid_hash"),
        (requests.get(f"{node}/retrieve?hash={'0' * 64}"), 404, "blob_not_found"),
        (requests.get(f"{node}/upload"), 405, "method_not_allowed"),
        (requests.post(f"{node}/upload", data={"x": "1"}), 415, "unsupported_media_type"),
        (requests.post(f"{node}/upload", files={"other": ("a", b"1")}), 400, "missing_field"),
        (requests.get(f"{master}/get"), 400, "missing_field"),
        (requests.get(f"{master}/get?hash=a/b"), 400, "invalid_hash"),
        (requests.get(f"{master}/get?hash=nothing-here"), 404, "file_not_found"),
        (requests.put(f"{master}/register"), 405, "method_not_allowed"),
        (requests.post(f"{master}/register", json={"hash": "x"}), 400, "missing_field"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.url
        assert response.headers["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == code, response.url


def test_range_and_conditional_requests_through_gunicorn(cluster: Cluster):
    payload = os.urandom(100_000)
    node = cluster.nodes[0].url
    digest = upload(node, payload, "r.bin").json()["hash"]
    url = f"{node}/retrieve?hash={digest}"
    assert (
        requests.get(url, headers={"Range": "bytes=99990-"}, timeout=TIMEOUT).content
        == payload[99990:]
    )
    assert requests.get(url, headers={"Range": "bytes=200000-"}, timeout=TIMEOUT).status_code == 416
    assert (
        requests.get(url, headers={"If-None-Match": f'"{digest}"'}, timeout=TIMEOUT).status_code
        == 304
    )


def test_twenty_concurrent_uploads_of_the_same_bytes_store_one_blob(cluster: Cluster):
    payload = os.urandom(256 * 1024)
    digest = hashlib.sha256(payload).hexdigest()
    node = cluster.nodes[0]
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda i: upload(node.url, payload, f"same-{i}.bin"), range(20)))
    bodies = [r.json() for r in results]
    assert all(r.status_code == 200 for r in results)
    assert {b["hash"] for b in bodies} == {digest}
    assert sum(not b["deduplicated"] for b in bodies) >= 1
    assert [p.name for p in blob_files(node.data_dir) if p.name == digest] == [digest]
    assert stray_temp_files(node.data_dir) == []
    record = requests.get(f"{cluster.master.url}/get?hash={digest}", timeout=TIMEOUT).json()
    assert record["size"] == len(payload)
    # The node brought the file to R = 2 copies: the other node holds one blob too.
    assert record["replicas"] == sorted(str(n.port) for n in cluster.nodes)
    other = next(n for n in cluster.nodes if n is not node)
    assert [p.name for p in blob_files(other.data_dir) if p.name == digest] == [digest]
    assert record["name"].startswith("same-")
    listed = [
        f
        for f in requests.get(f"{cluster.master.url}/list", timeout=TIMEOUT).json()
        if f["hash"] == digest
    ]
    assert len(listed) == 1


def test_health_endpoints(cluster: Cluster):
    master = requests.get(f"{cluster.master.url}/health", timeout=TIMEOUT).json()
    assert master["status"] == "OK"
    assert master["nodes"] == 2
    node = requests.get(f"{cluster.nodes[0].url}/health", timeout=TIMEOUT).json()
    assert node["status"] == "OK"
    assert node["node"] == cluster.nodes[0].url.rsplit(":", 1)[1]
    assert node["free_bytes"] > 0
