"""Small PUTs to a node over kept-alive links: one connection per concurrent caller, kept
for the next call, replaced when the node closed it, errors as NodeUnavailable."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest

from app.cluster import request_ids
from app.cluster.links import LinkPool
from app.cluster.node_client import LINK_BODY_LIMIT, NODE_TIMEOUT, NodeClient, NodeUnavailable
from app.security import cluster_headers
from tests.support.stub_http import QuietHandler, stub_server

BODY = b"a small copy\n" * 10
DIGEST = hashlib.sha256(BODY).hexdigest()


@dataclass
class StandIn:
    url: str = ""
    status: int = 200
    close_after_answer: bool = False
    calls: list[dict[str, object]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def node() -> Iterator[StandIn]:
    stand_in = StandIn()

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def do_PUT(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
            with stand_in.lock:
                stand_in.calls.append(
                    {
                        "path": urlsplit(self.path).path,
                        "query": query,
                        "peer_port": self.client_address[1],
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
            answer = json.dumps({"hash": hashlib.sha256(body).hexdigest()}).encode()
            self.send_response(stand_in.status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
            if stand_in.close_after_answer:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

    with stub_server(Handler) as url:
        stand_in.url = url
        yield stand_in


@pytest.fixture
def client() -> Iterator[NodeClient]:
    made = NodeClient("s" * 32)
    yield made
    made.close()


def test_a_small_copy_goes_over_one_kept_alive_link_with_the_clusters_headers(node, client):
    token = request_ids.current.set("trace-22")
    try:
        for _ in range(3):
            answer = client.put_blob(node.url, "a.txt", BODY, DIGEST, kind="block", private=True)
            assert answer == {"hash": DIGEST}
    finally:
        request_ids.current.reset(token)
    assert len({call["peer_port"] for call in node.calls}) == 1
    first = node.calls[0]
    assert first["path"] == "/upload" and first["body"] == BODY
    assert first["query"] == {
        "hash": DIGEST,
        "name": "a.txt",
        "replicate": "0",
        "kind": "block",
        "private": "1",
    }
    headers = first["headers"]
    assert isinstance(headers, dict)
    assert headers[request_ids.HEADER] == "trace-22"
    for name, value in cluster_headers("s" * 32).items():
        assert headers[name] == value


def test_concurrent_callers_each_get_a_link_and_keep_them(node):
    pool = LinkPool({}, NODE_TIMEOUT)
    start = threading.Barrier(4)

    def send() -> None:
        start.wait(timeout=10)
        for _ in range(5):
            assert pool.call(node.url, "PUT", "/upload", BODY)[0] == 200

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    pool.close()
    assert len(node.calls) == 20
    assert len({call["peer_port"] for call in node.calls}) <= 4


def test_a_link_the_node_closed_meanwhile_is_replaced(node, client):
    node.close_after_answer = True
    for _ in range(3):
        assert client.put_blob(node.url, "a.txt", BODY, DIGEST) == {"hash": DIGEST}
    assert len(node.calls) == 3  # each copy reached the node once
    assert len({call["peer_port"] for call in node.calls}) == 3


def test_a_refusal_or_no_node_is_node_unavailable(node, client):
    node.status = 400
    with pytest.raises(NodeUnavailable, match="answered 400"):
        client.put_blob(node.url, "a.txt", BODY, DIGEST)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        unused = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(NodeUnavailable, match="unreachable"):
        client.put_blob(unused, "a.txt", BODY, DIGEST)


def test_streams_and_large_bodies_keep_the_pooled_session(node, client):
    big = b"x" * (LINK_BODY_LIMIT + 1)
    client.put_blob(node.url, "big.bin", big, hashlib.sha256(big).hexdigest())
    client.put_blob(node.url, "s.bin", io.BytesIO(BODY), DIGEST)
    assert [call["body"] for call in node.calls] == [big, BODY]
    for call in node.calls:  # requests' own header (http.client's says "identity")
        assert "gzip" in call["headers"]["Accept-Encoding"]  # type: ignore[index]


def test_the_links_carry_the_same_agent_as_the_session(node, client):
    client.put_blob(node.url, "a.txt", BODY, DIGEST)
    client.put_blob(node.url, "s.bin", io.BytesIO(BODY), DIGEST)
    on_link, on_session = (call["headers"] for call in node.calls)
    assert on_link["Accept-Encoding"] == "identity"  # type: ignore[index]
    assert on_link["User-Agent"] == on_session["User-Agent"]  # type: ignore[index]
