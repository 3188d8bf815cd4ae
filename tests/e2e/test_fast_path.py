"""The nodes' fast read path through real gunicorn workers: one keep-alive connection
moves from the fast loop to gunicorn and Flask at the first request the loop declines."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
from urllib.parse import urlsplit

import requests

from localcluster.launcher import Cluster, wait_until
from tests.support.apps import BLOB_HEADERS

TIMEOUT = 30


def put(node_url: str, body: bytes, name: str) -> str:
    reply = requests.put(f"{node_url}/upload", params={"name": name}, data=body, timeout=TIMEOUT)
    reply.raise_for_status()
    return str(reply.json()["hash"])


def test_one_connection_goes_from_the_fast_path_to_flask_and_answers_alike(cluster: Cluster):
    node = cluster.nodes[0]
    small, big = os.urandom(4096), os.urandom(3 * 1024 * 1024 + 5)
    small_hash, big_hash = put(node.url, small, "small.bin"), put(node.url, big, "big.txt")
    conn = http.client.HTTPConnection(urlsplit(node.url).netloc, timeout=TIMEOUT)

    def get(target: str, **headers: str) -> http.client.HTTPResponse:
        conn.request("GET", target, headers=headers)
        response = conn.getresponse()
        response.body = response.read()  # type: ignore[attr-defined]
        return response

    fast_small = get(f"/retrieve?hash={small_hash}")
    fast_big = get(f"/retrieve?hash={big_hash}")
    assert (fast_small.status, fast_small.body) == (200, small)  # type: ignore[attr-defined]
    assert (fast_big.status, fast_big.body) == (200, big)  # type: ignore[attr-defined]
    assert fast_big.getheader("Content-Type") == "text/plain"
    # A conditional request is the view's: 304 on the same connection...
    assert get(f"/retrieve?hash={small_hash}", **{"If-None-Match": f'"{small_hash}"'}).status == 304
    # ... and from then on gunicorn serves it: same bytes, same headers.
    slow_small = get(f"/retrieve?hash={small_hash}")
    assert (slow_small.status, slow_small.body) == (200, small)  # type: ignore[attr-defined]
    for name in BLOB_HEADERS:
        assert fast_small.getheader(name) == slow_small.getheader(name), name
    # Which loop answered: gunicorn names itself, the fast loop does not.
    assert fast_small.getheader("Server") is None and fast_big.getheader("Server") is None
    assert slow_small.getheader("Server") == "gunicorn"
    missing = get(f"/retrieve?hash={'0' * 64}")
    assert missing.status == 404
    assert missing.body and b"blob_not_found" in missing.body  # type: ignore[attr-defined]
    conn.close()
    # Fast answers are in the access log like any other (the test cluster logs requests).
    line = f'"GET /retrieve?hash={small_hash} HTTP/1.1" 200 4096'
    wait_until(lambda: line in node.log_tail(400), deadline=5)


def test_pipelined_requests_on_a_raw_socket(cluster: Cluster):
    node = cluster.nodes[1]
    body = os.urandom(1000)
    digest = put(node.url, body, "p.bin")
    parts = urlsplit(node.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT) as sock:
        request = f"GET /retrieve?hash={digest} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        sock.sendall(request * 3 + f"GET /retrieve?hash={digest} HTTP/1.0\r\n\r\n".encode())
        received = b""
        while chunk := sock.recv(65536):  # the HTTP/1.0 request closes the connection
            received += chunk
    assert received.count(b"HTTP/1.1 200 OK\r\n") == 4
    assert received.count(body) == 4
    assert hashlib.sha256(body).hexdigest() == digest


def test_roles_started_by_mdbx_serve_patch_ssl_before_anything_imports_it(cluster: Cluster):
    # gevent warns, in each worker's log, about modules that took ssl before it patched
    # it (urllib3, when the client's modules came first): their TLS would not be gevent's.
    for role in (cluster.master, *cluster.nodes):
        assert "MonkeyPatchWarning" not in role.log_tail(10_000)
