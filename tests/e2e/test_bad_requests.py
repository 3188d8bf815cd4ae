"""What a real gunicorn hands the app when a client sends broken input (#17): each is a
4xx with our JSON error, on the Flask views and on the fast paths alike."""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

import pytest
import requests

from localcluster.launcher import Cluster

TIMEOUT = 10
REGISTER = "POST /nodes/register HTTP/1.1\r\nContent-Type: application/json"


def exchange(url: str, head: str, body: bytes = b"") -> tuple[int, dict, bytes]:
    """Send ``head`` (request line and fields, without the blank line) and ``body`` on a
    new connection; return the status, the JSON body and whatever followed it."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\nHost: x\r\n\r\n" + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        payload = response.read()
        return response.status, json.loads(payload), payload


@pytest.fixture(scope="module")
def token(cluster: Cluster) -> str:
    master = cluster.master.url
    requests.post(
        f"{master}/api/admin/users", json={"username": "bad", "password": "pw"}, timeout=TIMEOUT
    )
    reply = requests.post(
        f"{master}/api/login", json={"username": "bad", "password": "pw"}, timeout=TIMEOUT
    )
    return str(reply.json()["token"])


def test_an_invalid_chunk_size_is_400_everywhere(cluster: Cluster, token: str):
    node = cluster.nodes[0]
    temp_before = set((node.data_dir / "tmp").iterdir())
    chunked = "Transfer-Encoding: chunked"
    for url, target, extra in (
        (node.url, "PUT /upload?name=x", ""),
        (node.url, "POST /upload", "\r\nContent-Type: multipart/form-data; boundary=b"),
        (cluster.master.url, "PUT /upload/x", ""),
        (cluster.master.url, "PUT /api/files/bad.txt", f"\r\nAuthorization: Bearer {token}"),
        (cluster.master.url, "POST /api/login", "\r\nContent-Type: application/json"),
    ):
        for broken in (b"3\r\nabc\r\nzz\r\n", b"3\r\nabcXY"):
            status, answer, _ = exchange(url, f"{target} HTTP/1.1\r\n{chunked}{extra}", broken)
            assert (status, answer["error"]["code"]) == (400, "malformed_body"), (target, answer)
    # Nothing was kept of them, and both roles still serve.
    assert set((node.data_dir / "tmp").iterdir()) <= temp_before
    listed = requests.get(
        f"{cluster.master.url}/api/list", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert listed.json()["entries"] == []
    assert requests.get(f"{node.url}/health", timeout=5).status_code == 200


def test_a_url_that_is_not_utf8_is_400(cluster: Cluster, token: str):
    auth = f"\r\nAuthorization: Bearer {token}\r\nContent-Length: 3"
    status, answer, _ = exchange(
        cluster.master.url, f"PUT /api/files/%ED%A0%80 HTTP/1.1{auth}", b"abc"
    )
    assert (status, answer["error"]["code"]) == (400, "invalid_url")
    for url, target in (
        (cluster.nodes[0].url, "PUT /upload?name=%ED%A0%80"),
        (cluster.nodes[0].url, "GET /retrieve?hash=%FF"),
        (cluster.master.url, "POST /assign?count=%FF"),
    ):
        status, answer, _ = exchange(url, f"{target} HTTP/1.1\r\nContent-Length: 3", b"abc")
        assert (status, answer["error"]["code"]) == (400, "invalid_url"), target


def test_the_masters_fast_path_answers_bad_json_as_flask_does(cluster: Cluster):
    # The fast path closed the connection on this one (a RecursionError).
    deep = b'{"copies": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for body in (deep, b'{"copies": [{"size": 1e400}]}', b'{"node": "\\ud800"}'):
        head = f"{REGISTER}\r\nContent-Length: {len(body)}"
        status, answer, _ = exchange(cluster.master.url, head, body)
        assert (status, answer["error"]["code"]) == (400, "invalid_json")
    # Over the fast path's limit, Flask answers: 413 before reading it.
    status, answer, _ = exchange(cluster.master.url, f"{REGISTER}\r\nContent-Length: 50000000")
    assert (status, answer["error"]["code"]) == (413, "payload_too_large")
