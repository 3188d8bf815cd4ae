"""Crashes, restarts and outages: nothing acknowledged is lost, master and nodes agree."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import time

import requests

from localcluster.launcher import wait_until
from tests.support.api import upload
from tests.support.node_temp import stray_temp_files

TIMEOUT = 30


def get_record(master_url: str, key: str) -> dict | None:
    response = requests.get(f"{master_url}/get", params={"hash": key}, timeout=TIMEOUT)
    if response.status_code != 200:
        return None
    return {k: v for k, v in response.json().items() if k != "locations"}


def test_kill_9_of_the_master_loses_no_acknowledged_registration(spawn):
    cluster = spawn(nodes=1)
    keys = []
    for i in range(30):
        payload = {"hash": f"key-{i}", "name": f"f{i}.txt", "size": i + 1, "replicas": ["8001"]}
        response = requests.post(f"{cluster.master.url}/register", json=payload, timeout=TIMEOUT)
        assert response.status_code == 200
        keys.append(payload)
    stored = upload(cluster.nodes[0].url, os.urandom(1000), "n.bin")
    cluster.master.kill()
    cluster.master.start()
    for payload in keys:
        assert get_record(cluster.master.url, payload["hash"]) == payload
    assert get_record(cluster.master.url, stored["hash"])["name"] == "n.bin"


def test_upload_while_the_master_is_down_is_registered_when_it_returns(spawn):
    cluster = spawn(nodes=1, env={"MDBX_SYNC_INTERVAL": "0.2"})
    cluster.master.stop()
    payload = os.urandom(5000)
    body = upload(cluster.nodes[0].url, payload, "offline.bin")
    assert body["registered"] is False
    assert body["hash"] == hashlib.sha256(payload).hexdigest()
    pending = requests.get(f"{cluster.nodes[0].url}/health", timeout=TIMEOUT).json()
    assert pending["unregistered"] == 1
    cluster.master.start()
    record = wait_until(lambda: get_record(cluster.master.url, body["hash"]), deadline=15)
    assert record["replicas"] == [str(cluster.nodes[0].port)]
    assert record["name"] == "offline.bin"
    health = wait_until(
        lambda: (
            (h := requests.get(f"{cluster.nodes[0].url}/health", timeout=TIMEOUT).json())
            and h["unregistered"] == 0
            and h
        ),
        deadline=15,
    )
    assert health["files"] == 1


def test_a_restarted_node_reports_its_inventory_to_a_master_that_lost_its_data(spawn):
    cluster = spawn(nodes=1)
    node = cluster.nodes[0]
    digests = [upload(node.url, os.urandom(100 + i), f"inv-{i}.bin")["hash"] for i in range(5)]
    cluster.master.kill()
    shutil.rmtree(cluster.master.data_dir)
    cluster.master.start()
    assert requests.get(f"{cluster.master.url}/list", timeout=TIMEOUT).json() == []
    node.kill()
    node.start()
    listed = wait_until(
        lambda: (
            (files := requests.get(f"{cluster.master.url}/list", timeout=TIMEOUT).json())
            and len(files) == 5
            and files
        ),
        deadline=20,
    )
    assert {f["hash"] for f in listed} == set(digests)
    assert {f["name"] for f in listed} == {f"inv-{i}.bin" for i in range(5)}
    assert all(f["replicas"] == [str(node.port)] for f in listed)


def test_a_blob_whose_move_a_crash_lost_is_served_and_reported_after_a_restart(spawn):
    cluster = spawn(nodes=1)
    node = cluster.nodes[0]
    before = upload(node.url, b"stored before the crash", "before.bin")["hash"]
    node.kill()
    # What a crash between a batch's sync and its (unsynced) moves into place leaves: the
    # blob durable under its sealed name in the temp dir, and nothing at its own name.
    data = os.urandom(3000)
    digest = hashlib.sha256(data).hexdigest()
    (node.data_dir / "tmp" / f"sealed-{digest}-upload-crashed").write_bytes(data)
    node.start()
    served = requests.get(f"{node.url}/retrieve", params={"hash": digest}, timeout=TIMEOUT)
    assert served.status_code == 200 and served.content == data
    listed = wait_until(
        lambda: (
            {f["hash"] for f in requests.get(f"{cluster.master.url}/list", timeout=TIMEOUT).json()}
            >= {before, digest}
        ),
        deadline=20,
    )
    assert listed
    assert stray_temp_files(node.data_dir) == []


def test_master_workers_never_serve_a_stale_record(cluster):
    """The master runs two workers, each with its own hot index over one database."""
    master = cluster.master.url
    key = "coherence-" + os.urandom(4).hex()
    requests.post(
        f"{master}/register", json={"hash": key, "size": 1, "replicas": ["a"]}, timeout=TIMEOUT
    )
    for _ in range(20):  # new connection each time: requests spread over both workers
        assert get_record(master, key)["replicas"] == ["a"]
    requests.post(
        f"{master}/register", json={"hash": key, "size": 1, "replicas": ["b"]}, timeout=TIMEOUT
    )
    for _ in range(20):
        assert get_record(master, key)["replicas"] == ["a", "b"]


def test_sigterm_lets_an_in_flight_upload_finish(spawn):
    cluster = spawn(nodes=1)
    node = cluster.nodes[0]
    payload = os.urandom(64 * 1024)
    boundary = "drainboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", node.port), timeout=TIMEOUT) as sock:
        sock.sendall(head + body[:1000])
        time.sleep(0.3)
        node.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        sock.sendall(body[1000:])
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert hashlib.sha256(payload).hexdigest().encode() in reply
    started = time.monotonic()
    assert node.process.wait(timeout=10) == 0
    assert time.monotonic() - started < 6


def test_a_client_that_stalls_mid_body_is_cut_off(spawn):
    cluster = spawn(nodes=1, env={"MDBX_READ_TIMEOUT": "1"})
    node = cluster.nodes[0]
    head = (
        b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", node.port), timeout=TIMEOUT) as sock:
        started = time.monotonic()
        sock.sendall(
            head + b'--b\r\nContent-Disposition: form-data; name="file"; filename="s"\r\n\r\nabc'
        )
        reply = b""
        while b"request_timeout" not in reply and (chunk := sock.recv(65536)):
            reply += chunk
        elapsed = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"request_timeout" in reply
    assert elapsed < 5
    assert stray_temp_files(node.data_dir) == []
