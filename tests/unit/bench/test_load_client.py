"""The bench's load client: what it sends, what it answers, one connection per host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.load import Client
from tests.support.stub_http import QuietHandler, stub_server


@pytest.fixture()
def server() -> Iterator[tuple[str, list[dict[str, object]]]]:
    seen: list[dict[str, object]] = []

    class Echo(QuietHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the cluster serves

        def _answer(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "body": body,
                    "type": self.headers.get("Content-Type"),
                    "peer": self.client_address[1],
                }
            )
            reply = b"echo:" + body
            self.send_response(404 if self.path == "/missing" else 200)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = do_PUT = _answer

    with stub_server(Echo) as url:
        yield url, seen


def test_requests_carry_their_method_and_body_and_reuse_one_connection(server):
    url, seen = server
    client = Client()
    try:
        assert client.request("POST", f"{url}/assign") == (200, b"echo:")
        assert client.request("PUT", f"{url}/upload?hash=ab&name=w1", b"\x00" * 1024) == (
            200,
            b"echo:" + b"\x00" * 1024,
        )
        assert client.request("GET", f"{url}/retrieve?hash=ab") == (200, b"echo:")
        assert client.request("GET", f"{url}/missing") == (404, b"echo:")
    finally:
        client.close()
    assert [(s["method"], s["path"], len(s["body"])) for s in seen] == [  # type: ignore[arg-type]
        ("POST", "/assign", 0),
        ("PUT", "/upload?hash=ab&name=w1", 1024),
        ("GET", "/retrieve?hash=ab", 0),
        ("GET", "/missing", 0),
    ]
    assert seen[1]["type"] == "application/octet-stream"
    assert len({s["peer"] for s in seen}) == 1  # kept alive
