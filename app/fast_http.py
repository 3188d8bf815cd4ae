"""Plain GETs answered on the connection, below gunicorn's parser and WSGI.

Profiled under wrk (4 KiB blobs), a node worker spent most of each request in gunicorn's
pure-Python request parser, the WSGI environ and response objects, and Flask: a minimal
gevent loop on the same machine answers ten times as many requests. So a role may hand
its worker a ``FastHandler``; the worker's connection loop (``serve_connection``) parses
each request head with httptools (C), and when the handler takes the request, writes the
response itself. The first request the handler declines — anything but a plain GET it
knows, a request with a body, a malformed or oversized head — and everything after it on
that connection go to gunicorn and the Flask app, exactly as without this loop.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httptools

# gunicorn's own limits are 4094 bytes of request line and 100 fields of 8190: anything
# longer than this is handed over whole, for gunicorn to refuse as it always has.
HEAD_LIMIT = 16 * 1024
RECV_SIZE = 64 * 1024
# Bodies up to this size are read and sent with the head in one call; larger ones go
# through the kernel's sendfile.
INLINE_BODY = 64 * 1024


@dataclass(frozen=True)
class FastRequest:
    method: bytes
    target: bytes
    headers: dict[bytes, bytes]  # lower-cased names


@dataclass
class FastResponse:
    """A 200 answer: the header lines (no status line, no blank line) and a file
    descriptor open on ``size`` bytes to send, which the loop closes."""

    headers: bytes
    fd: int
    size: int


FastHandler = Callable[[FastRequest], FastResponse | None]


@dataclass(frozen=True)
class FastPath:
    """What a role's app offers its worker (in ``app.extensions[FAST_PATH]``)."""

    handler: FastHandler
    write_timeout: float


FAST_PATH = "mdbx.fast_path"
# (remote address, request line, status, body bytes, seconds): the access log's line.
AccessLog = Callable[[str, str, int, int, float], None]


class _Head:
    """httptools callbacks collecting one request head."""

    __slots__ = ("complete", "headers", "keep_alive", "parser", "repeated", "url")

    def __init__(self) -> None:
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.complete = False
        self.keep_alive = False
        self.repeated = False  # a field sent twice: gunicorn and Flask decide what it means
        self.parser = httptools.HttpRequestParser(self)

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        self.repeated = self.repeated or name in self.headers
        self.headers[name] = value

    def on_headers_complete(self) -> None:
        # Asked here: once the message is complete, llhttp has reset what it knew.
        self.keep_alive = self.parser.should_keep_alive()

    def on_message_complete(self) -> None:
        self.complete = True


class _Clock:
    """The Date header, formatted once a second."""

    def __init__(self) -> None:
        self._second = 0
        self._line = b""

    def date_line(self) -> bytes:
        now = int(time.time())
        if now != self._second:
            self._second = now
            self._line = b"Date: %s\r\n" % email.utils.formatdate(now, usegmt=True).encode()
        return self._line


_clock = _Clock()


def serve_connection(
    sock: Any,
    handler: FastHandler,
    *,
    idle_timeout: float,
    write_timeout: float,
    turn: Callable[[], None] | None = None,
    access_log: AccessLog | None = None,
    remote: str = "-",
) -> bytes | None:
    """Answer the requests ``handler`` takes on ``sock`` (blocking, gevent-patched).

    Returns None when the connection is done (closed by the client, idle past
    ``idle_timeout``, or not to be kept alive), else the bytes received from the first
    declined request on, for gunicorn to carry on with. ``turn`` runs after every answer
    (gevent.sleep(0): a client that sends requests back to back cannot hold the worker).
    """

    buffered = b""
    while True:
        end = buffered.find(b"\r\n\r\n")
        if end < 0:
            buffered, end = _read_head(sock, buffered, idle_timeout)
            if end < 0:
                return buffered or None
        head = _Head()
        try:
            head.parser.feed_data(buffered[: end + 4])
        except httptools.HttpParserError:
            return buffered
        if not head.complete or head.repeated:  # a body follows, or an ambiguous head
            return buffered
        request = FastRequest(head.parser.get_method(), head.url, head.headers)
        started = time.perf_counter()
        response = handler(request)
        if response is None:
            return buffered
        buffered = buffered[end + 4 :]
        keep_alive = head.keep_alive
        try:
            # The socket's own timeout bounds the send (cheaper than a gevent.Timeout);
            # waits for the next request are bounded by the idle timeout instead.
            sock.settimeout(write_timeout or None)
            _send(sock, response, keep_alive)
            sock.settimeout(None)
        finally:
            os.close(response.fd)
        if access_log is not None:
            line = f"{request.method.decode()} {request.target.decode('latin-1')} HTTP/1.1"
            access_log(remote, line, 200, response.size, time.perf_counter() - started)
        if not keep_alive:
            return None
        if turn is not None:
            turn()


def _read_head(sock: Any, buffered: bytes, idle_timeout: float) -> tuple[bytes, int]:
    """Receive until a whole head is in; (bytes, head end) or (bytes, -1) to stop here."""
    import gevent

    idle = gevent.Timeout(idle_timeout or None)
    idle.start()
    try:
        while True:
            chunk = sock.recv(RECV_SIZE)
            if not chunk:  # closed, perhaps within a head: nothing to answer
                return b"", -1
            buffered += chunk
            end = buffered.find(b"\r\n\r\n")
            if end >= 0:
                return buffered, end
            if len(buffered) > HEAD_LIMIT:
                return buffered, -1
    except gevent.Timeout as timeout:
        if timeout is not idle:
            raise
        return b"", -1  # idle (or a head too slow to arrive): close, as gunicorn does
    finally:
        idle.close()


def _send(sock: Any, response: FastResponse, keep_alive: bool) -> None:
    head = b"".join(
        (
            b"HTTP/1.1 200 OK\r\n",
            _clock.date_line(),
            response.headers,
            b"" if keep_alive else b"Connection: close\r\n",
            b"\r\n",
        )
    )
    if response.size <= INLINE_BODY:
        body = os.read(response.fd, response.size)
        if len(body) != response.size:
            raise OSError(f"blob changed size while read: {len(body)} of {response.size}")
        sock.sendall(head + body)
    else:
        sock.sendall(head)
        with open(response.fd, "rb", buffering=0, closefd=False) as body_file:
            sock.sendfile(body_file, 0, response.size)
