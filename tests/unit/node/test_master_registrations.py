"""A node's registrations against stand-in masters: one kept-alive connection, a new one
when the master closed it meanwhile, and MasterUnavailable when no master answers."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from app.cluster.master_client import MasterClient, MasterUnavailable, NewCopy
from app.security import cluster_headers
from tests.support.stub_http import QuietHandler, stub_server

COPY = NewCopy("ab" * 32, "a.txt", 3, "file", want_peers=False)


@dataclass
class StandIn:
    url: str
    status: int = 200
    close_after_answer: bool = False  # drop the connection without saying so
    calls: list[dict[str, object]] = field(default_factory=list)


@pytest.fixture
def master() -> Iterator[StandIn]:
    stand_in = StandIn("")

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"  # keep-alive

        def do_POST(self) -> None:
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            stand_in.calls.append(
                {
                    "path": self.path,
                    "peer_port": self.client_address[1],
                    "headers": dict(self.headers),
                    "payload": payload,
                }
            )
            answer = json.dumps(
                {
                    "node": payload["node"],
                    "results": [{"hash": c["hash"]} for c in payload["copies"]],
                }
            ).encode()
            self.send_response(stand_in.status)
            self.send_header("Content-Type", "application/json")
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
def clients() -> Iterator[list[MasterClient]]:
    made: list[MasterClient] = []
    yield made
    for client in made:
        client.close()


def make_client(clients: list[MasterClient], *urls: str, secret: str = "") -> MasterClient:
    client = MasterClient(list(urls), "8001", "http://127.0.0.1:8001", secret=secret)
    clients.append(client)
    return client


def unused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_registrations_share_one_connection_and_carry_the_cluster_secret(master, clients):
    client = make_client(clients, master.url, secret="s3cret")
    assert client.register_copies([COPY]) == [{"hash": COPY.hash}]
    assert client.register_copies([COPY, COPY]) == [{"hash": COPY.hash}] * 2
    first, second = master.calls
    assert first["path"] == second["path"] == "/nodes/register"
    assert first["peer_port"] == second["peer_port"]
    headers = first["headers"]
    assert isinstance(headers, dict)
    assert headers["Content-Type"] == "application/json"
    for name, value in cluster_headers("s3cret").items():
        assert headers[name] == value
    assert first["payload"] == {
        "node": "8001",
        "url": "http://127.0.0.1:8001",
        "copies": [
            {"hash": COPY.hash, "name": "a.txt", "size": 3, "kind": "file", "want_peers": False}
        ],
    }


def test_a_connection_the_master_closed_meanwhile_is_replaced(master, clients):
    master.close_after_answer = True
    client = make_client(clients, master.url)
    for _ in range(3):
        assert client.register_copies([COPY]) == [{"hash": COPY.hash}]
    assert len({call["peer_port"] for call in master.calls}) == 3
    assert len(master.calls) == 3  # each registration reached the master once


def test_the_next_master_takes_a_registration_the_first_cannot(master, clients):
    client = make_client(clients, unused_url(), master.url)
    assert client.register_copies([COPY]) == [{"hash": COPY.hash}]
    assert len(master.calls) == 1


def test_no_master_answering_is_master_unavailable(clients):
    client = make_client(clients, unused_url())
    with pytest.raises(MasterUnavailable, match="unreachable"):
        client.register_copies([COPY])


@pytest.mark.parametrize(("status", "words"), [(503, "answered 503"), (400, "refused")])
def test_an_error_status_is_master_unavailable(master, clients, status, words):
    master.status = status
    client = make_client(clients, master.url)
    with pytest.raises(MasterUnavailable, match=words):
        client.register_copies([COPY])
