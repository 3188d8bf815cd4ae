"""The connection loop of the fast path, over real (gevent) socket pairs."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

import gevent
import pytest
from gevent import socket

from app.server.connection import (
    HEAD_LIMIT,
    INLINE_BODY,
    TURN_EVERY,
    FastPath,
    FastRequest,
    FastResponse,
    serve_connection,
)
from app.server.limits import HeadClock


class Files:
    """A handler answering GET /f/<name> from a directory; everything else declined."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seen: list[FastRequest] = []

    def __call__(self, request: FastRequest) -> FastResponse | None:
        self.seen.append(request)
        if request.method == b"GET" and request.target.startswith(b"/cat/"):
            return self.concatenated(request.target[5:].decode().split("+"))
        if request.method != b"GET" or not request.target.startswith(b"/f/"):
            return None
        path = self.root / request.target[3:].decode()
        if not path.is_file():
            return None
        size = path.stat().st_size
        return FastResponse(b"Content-Length: %d\r\n" % size, os.open(path, os.O_RDONLY), size)

    def concatenated(self, names: list[str]) -> FastResponse:
        """The files one after another, at the sizes they have now (or 5 if absent)."""
        parts = [
            (str(path), path.stat().st_size if path.is_file() else 5)
            for path in (self.root / name for name in names)
        ]
        size = sum(part_size for _, part_size in parts)
        return FastResponse(b"Content-Length: %d\r\n" % size, size=size, files=parts)


@pytest.fixture
def files(tmp_path: Path) -> Files:
    (tmp_path / "small").write_bytes(b"hello")
    (tmp_path / "big").write_bytes(os.urandom(INLINE_BODY * 3 + 7))
    return Files(tmp_path)


@pytest.fixture
def serve():
    """Connect a client socket to a greenlet serving the other end with a handler (or a
    whole ``FastPath``); both ends are closed, and the greenlet stopped, afterwards."""
    opened = []
    workers = []

    def connect(target: Files | FastPath, idle_timeout: float = 5.0, header_timeout: float = 5.0):
        fast = target if isinstance(target, FastPath) else FastPath(target, write_timeout=5.0)
        client, server = socket.socketpair()
        client.settimeout(10)  # a test that waits for an answer never comes fails
        opened.extend((client, server))
        clock = HeadClock(idle_timeout, header_timeout)
        worker = gevent.spawn(serve_connection, server, fast, clock=clock)
        workers.append(worker)
        return client, worker

    yield connect
    for worker in workers:
        worker.kill()
    for sock in opened:
        sock.close()


def read_response(stream: io.BufferedReader) -> tuple[bytes, dict[bytes, bytes], bytes]:
    status = stream.readline()
    headers = {}
    while (line := stream.readline()) != b"\r\n":
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers[b"content-length"]))
    return status, headers, body


def test_keep_alive_requests_are_answered_in_turn(files, serve):
    client, worker = serve(files)
    stream = client.makefile("rb")
    for name in ("small", "big", "small"):
        client.sendall(b"GET /f/%s HTTP/1.1\r\nHost: x\r\n\r\n" % name.encode())
        status, headers, body = read_response(stream)
        assert status == b"HTTP/1.1 200 OK\r\n"
        assert body == (files.root / name).read_bytes()
        assert b"date" in headers and b"connection" not in headers
    stream.close()
    client.close()
    assert worker.get(timeout=5) is None


def test_pipelined_requests_are_answered_in_order(files, serve):
    client, worker = serve(files)
    client.sendall(b"GET /f/big HTTP/1.1\r\n\r\nGET /f/small HTTP/1.1\r\n\r\n")
    stream = client.makefile("rb")
    assert read_response(stream)[2] == (files.root / "big").read_bytes()
    assert read_response(stream)[2] == b"hello"
    stream.close()
    client.close()
    assert worker.get(timeout=5) is None


def test_a_client_sending_requests_back_to_back_gives_the_others_their_turns(files):
    """Pipelined requests are all read already, so the loop never waits on the socket:
    without its turns it would keep the worker for as long as the client goes on."""
    client, server = socket.socketpair()
    client.settimeout(10)
    turns: list[int] = []
    served = 2 * TURN_EVERY + 1
    try:
        client.sendall(b"GET /f/small HTTP/1.1\r\n\r\n" * served)
        client.shutdown(socket.SHUT_WR)
        worker = gevent.spawn(
            serve_connection,
            server,
            FastPath(files, write_timeout=5.0),
            clock=HeadClock(5.0, 5.0),
            turn=lambda: turns.append(len(files.seen)),
        )
        assert worker.get(timeout=5) is None
        server.close()
        assert client.makefile("rb").read().count(b"hello") == served
    finally:
        client.close()
        server.close()
    # A turn after every TURN_EVERY answers: the others wait for a few, never for all.
    assert turns == [TURN_EVERY, 2 * TURN_EVERY]


def test_the_first_declined_request_and_what_follows_are_handed_over(files, serve):
    client, worker = serve(files)
    client.sendall(b"GET /f/small HTTP/1.1\r\n\r\n")
    assert read_response(client.makefile("rb"))[2] == b"hello"
    rest = b"GET /f/missing HTTP/1.1\r\n\r\nGET /f/small HTTP/1.1\r\n\r\n"
    client.sendall(rest)
    assert worker.get(timeout=5) == rest  # byte for byte, for gunicorn to go on with


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /f/small HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        b"GET /f/small HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",  # a GET with a body
        b"GET /f/small HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /f/small HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\n\r\n",  # a repeated field
        b"GET /f/small HTTP/9.9 nonsense\r\n\r\n",
        b"GET /f/small HTTP/1.1\r\nBad Header\r\n\r\n",
    ],
)
def test_requests_the_loop_does_not_understand_are_handed_over(files, serve, request_bytes):
    client, worker = serve(files)
    client.sendall(request_bytes)
    assert worker.get(timeout=5) == request_bytes


def test_an_oversized_head_is_handed_over_unparsed(files, serve):
    client, worker = serve(files)
    head = b"GET /f/small HTTP/1.1\r\nX-Long: " + b"a" * HEAD_LIMIT
    client.sendall(head)
    assert worker.get(timeout=5) == head
    assert files.seen == []


def test_a_client_that_does_not_keep_alive_gets_connection_close(files, serve):
    client, worker = serve(files)
    client.sendall(b"GET /f/small HTTP/1.0\r\n\r\n")
    status, headers, body = read_response(client.makefile("rb"))
    assert body == b"hello" and headers[b"connection"] == b"close"
    assert worker.get(timeout=5) is None


def test_connection_close_is_honoured_on_http_1_1(files, serve):
    client, worker = serve(files)
    client.sendall(b"GET /f/small HTTP/1.1\r\nConnection: close\r\n\r\n")
    _status, headers, _body = read_response(client.makefile("rb"))
    assert headers[b"connection"] == b"close"
    assert worker.get(timeout=5) is None


def closed_after(worker, low: float, high: float) -> float:
    """Wait for the loop to end the connection; check it took between low and high s."""
    started = time.monotonic()
    assert worker.get(timeout=high + 5) is None
    elapsed = time.monotonic() - started
    assert low <= elapsed <= high, elapsed
    return elapsed


@pytest.mark.parametrize("first", [b"", b"GET /f/small HTTP/1.1\r\nHost: x\r\n"])
def test_a_first_head_must_arrive_within_the_header_timeout(files, serve, first):
    # Nothing, or half a head, on a new connection: it is not an idle keep-alive one.
    client, worker = serve(files, idle_timeout=30, header_timeout=0.3)
    client.sendall(first)
    closed_after(worker, 0.2, 2)
    client.close()


def test_a_head_sent_a_byte_at_a_time_gets_no_more_time(files, serve):
    client, worker = serve(files, idle_timeout=30, header_timeout=0.5)
    started = time.monotonic()
    for byte in b"GET /f/small HTTP/1.1\r\nX-Slow: " + b"a" * 60:
        if worker.ready() or time.monotonic() - started > 5:
            break
        client.send(bytes([byte]))
        gevent.sleep(0.05)
    assert worker.get(timeout=5) is None
    assert 0.4 <= time.monotonic() - started <= 2
    client.close()


def test_a_kept_alive_connection_waits_idle_then_times_the_head_from_its_first_byte(files, serve):
    client, worker = serve(files, idle_timeout=0.8, header_timeout=0.3)
    stream = client.makefile("rb")
    client.sendall(b"GET /f/small HTTP/1.1\r\n\r\n")
    assert read_response(stream)[2] == b"hello"
    gevent.sleep(0.5)  # longer than the header timeout: idle, still open
    assert not worker.ready()
    client.sendall(b"GET /f/small HTTP/1.1\r\n")  # the next head begins, then stalls
    closed_after(worker, 0.2, 0.6)  # before the idle timeout would have ended it
    stream.close()


def test_an_idle_connection_is_closed_after_the_idle_timeout(files, serve):
    client, worker = serve(files, idle_timeout=0.3, header_timeout=5)
    stream = client.makefile("rb")
    client.sendall(b"GET /f/small HTTP/1.1\r\n\r\n")
    assert read_response(stream)[2] == b"hello"
    closed_after(worker, 0.2, 2)
    stream.close()


@pytest.mark.parametrize(
    "fields",
    [
        [b"X-Long: " + b"a" * 9 * 1024],  # one field line beyond 8190 bytes
        [b"X-%d: 1" % n for n in range(200)],  # beyond 100 fields
    ],
)
def test_a_head_beyond_gunicorns_limits_is_handed_over_for_it_to_refuse(files, serve, fields):
    client, worker = serve(files)
    head = b"\r\n".join([b"GET /f/small HTTP/1.1", *fields]) + b"\r\n\r\n"
    client.sendall(head)
    assert worker.get(timeout=5) == head
    assert files.seen == []


def test_a_long_head_within_the_limits_is_answered(files, serve):
    client, worker = serve(files)
    fields = [b"X-Long: " + b"a" * 8000] + [b"X-%d: 1" % n for n in range(98)]
    client.sendall(b"\r\n".join([b"GET /f/small HTTP/1.1", *fields]) + b"\r\n\r\n")
    assert read_response(client.makefile("rb"))[2] == b"hello"


class Echo(Files):
    """Also answers PUT /echo with the length of the body it was given."""

    def __call__(self, request: FastRequest) -> FastResponse | None:
        if request.method == b"PUT" and request.target == b"/echo":
            return FastResponse.json({"received": len(request.body)})
        return super().__call__(request)


def body_path(handler: Files, limit: int = 1000, read_timeout: float = 5.0) -> FastPath:
    return FastPath(
        handler,
        write_timeout=5.0,
        read_timeout=read_timeout,
        body_limit=limit,
        wants_body=lambda request: request.target == b"/echo",
    )


def test_a_wanted_body_is_read_and_pipelined_requests_follow(files, serve):
    client, worker = serve(body_path(Echo(files.root)))
    client.sendall(
        b"PUT /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /f/small HTTP/1.1\r\n\r\n"
    )
    stream = client.makefile("rb")
    status, headers, body = read_response(stream)
    assert status == b"HTTP/1.1 200 OK\r\n" and headers[b"content-type"] == b"application/json"
    assert body == b'{"received":5}\n'
    assert read_response(stream)[2] == b"hello"
    stream.close()


def test_expect_100_continue_gets_its_interim_answer_before_the_body(files, serve):
    client, worker = serve(body_path(Echo(files.root)))
    client.sendall(b"PUT /echo HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    stream = client.makefile("rb")
    assert stream.readline() == b"HTTP/1.1 100 Continue\r\n" and stream.readline() == b"\r\n"
    client.sendall(b"abc")
    assert read_response(stream)[2] == b'{"received":3}\n'
    stream.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"PUT /echo HTTP/1.1\r\nContent-Length: 1001\r\n\r\n" + b"x" * 1001,  # over the limit
        b"PUT /other HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",  # a body not asked for
        b"PUT /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        b"PUT /echo HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    ],
)
def test_bodies_it_does_not_take_are_handed_over_unread(files, serve, request_bytes):
    client, worker = serve(body_path(Echo(files.root)))
    client.sendall(request_bytes)
    handed = worker.get(timeout=5)
    # All that was received, from the head on; gunicorn reads the rest itself.
    assert request_bytes.startswith(handed) and b"\r\n\r\n" in handed


def test_a_client_that_stalls_mid_body_is_answered_408_and_closed(files, serve):
    client, worker = serve(body_path(Echo(files.root), read_timeout=0.3))
    client.sendall(b"PUT /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
    closed_after(worker, 0.2, 2)
    status, headers, body = read_response(client.makefile("rb"))
    # As the Flask views answer it (app.http), and the connection ends.
    assert status == b"HTTP/1.1 408 Request Timeout\r\n"
    assert headers[b"connection"] == b"close"
    assert json.loads(body)["error"]["code"] == "request_timeout"


def test_an_answer_larger_than_the_socket_buffer_arrives_whole(serve):
    body = os.urandom(4 * 1024 * 1024)

    def large(request: FastRequest) -> FastResponse:
        return FastResponse(b"Content-Length: %d\r\n" % len(body), body=body, size=len(body))

    client, worker = serve(large)
    stream = client.makefile("rb")
    client.sendall(b"GET /large HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _headers, received = read_response(stream)
    assert status == b"HTTP/1.1 200 OK\r\n"
    assert received == body
    stream.close()
    client.close()
    assert worker.get(timeout=5) is None


def test_files_are_sent_one_after_another_in_one_answer(files, serve):
    client, worker = serve(files)
    stream = client.makefile("rb")
    client.sendall(b"GET /cat/big+small+big HTTP/1.1\r\n\r\nGET /f/small HTTP/1.1\r\n\r\n")
    big = (files.root / "big").read_bytes()
    assert read_response(stream)[2] == big + b"hello" + big
    assert read_response(stream)[2] == b"hello"  # the connection goes on
    stream.close()
    client.close()
    assert worker.get(timeout=5) is None


@pytest.mark.parametrize("names", ["big+gone+small", "big+small+big"])
def test_a_file_gone_or_resized_meanwhile_cuts_the_answer_short(files, serve, names):
    client, worker = serve(files)
    server_end = worker.args[0]
    request = b"GET /cat/%s HTTP/1.1\r\n\r\n" % names.encode()
    if names == "big+small+big":  # sizes taken, then the last file shrinks
        answer = files(FastRequest(b"GET", b"/cat/" + names.encode(), {}))
        assert answer is not None
        (files.root / "big").write_bytes(b"shrunk")
        files.concatenated = lambda _names: answer  # type: ignore[method-assign]
    client.sendall(request)
    reader = gevent.spawn(client.makefile("rb").read)  # all that comes, until closed
    with pytest.raises(OSError):
        worker.get(timeout=5)
    server_end.close()  # as the gunicorn worker does on that error
    received = reader.get(timeout=5)
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    announced = int(received.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    assert len(received.partition(b"\r\n\r\n")[2]) < announced
