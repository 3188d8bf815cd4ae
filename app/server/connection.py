"""Hot requests answered on the connection, below gunicorn's parser and WSGI.

Profiled under wrk (4 KiB blobs), a node worker spent most of each request in gunicorn's
pure-Python request parser, the WSGI environ and response objects, and Flask: a minimal
gevent loop on the same machine answers ten times as many requests. So a role may hand
its worker a ``FastPath``; the worker's connection loop (``serve_connection``) parses
each request head with httptools (C), reads a small body when the role wants it, and when
the handler takes the request, writes the response itself. The first request the handler
declines — anything it does not know, a body it did not ask for, a malformed head or
one beyond gunicorn's limits — and everything after it on that connection go to gunicorn
and the Flask app, exactly as without this loop. Heads and bodies are given the same time
on both (``app.server.limits``): a body that stalls past READ_TIMEOUT is answered 408
here as the Flask views answer it.

Which requests a role's handler takes is declared in its overlay table
(``app.server.overlay``); this loop knows nothing of paths.
"""

from __future__ import annotations

import email.utils
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httptools

from app.cluster import request_ids
from app.errors import BODY_STALLED, RequestTimeout
from app.http.json_answers import ErrorAnswer, error_answer, json_bytes
from app.primitives.offhub import close_file
from app.server.limits import DEFAULT_HEAD_LIMITS, HeadClock, HeadLimits
from app.server.sendfile import corked

log = logging.getLogger(__name__)

# gunicorn's own limits are 4094 bytes of request line and 100 fields of 8190: anything
# longer than this is handed over whole, for gunicorn to refuse as it always has.
HEAD_LIMIT = 16 * 1024
RECV_SIZE = 64 * 1024
# Bodies up to this size are read and sent with the head in one call; larger ones go
# through the kernel's sendfile.
INLINE_BODY = 64 * 1024
# Answers a connection gets in a row before the others' turn: a turn costs a switch to
# the hub and back, a tenth of a small GET's CPU if taken after every answer, and a few
# 4 KiB answers in a row hold the others back for a fraction of a millisecond.
TURN_EVERY = 4


@dataclass(frozen=True)
class FastRequest:
    method: bytes
    target: bytes
    headers: dict[bytes, bytes]  # lower-cased names
    body: bytes = b""


@dataclass
class FastResponse:
    """An answer: the header lines (no status line, no blank line), then ``body``, or
    ``size`` bytes of the file descriptor ``fd`` (which the loop closes), or the
    ``files`` (path, size) one after another, each opened when its turn comes."""

    headers: bytes
    fd: int = -1
    size: int = 0
    status: int = 200
    body: bytes = b""
    files: Sequence[tuple[str, int]] = ()
    endpoint: str = ""  # the overlay route's declared endpoint, for the request metrics

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> FastResponse:
        """A JSON answer, spelled as Flask's ``jsonify`` spells it."""
        return cls._json_body(json_bytes(payload), status)

    @classmethod
    def error(cls, answer: ErrorAnswer) -> FastResponse:
        """A rendered error, as the Flask handlers send it."""
        extra = "".join(f"{name}: {value}\r\n" for name, value in answer.headers.items())
        return cls._json_body(answer.body, answer.status, extra.encode("latin-1"))

    @classmethod
    def _json_body(cls, body: bytes, status: int, headers: bytes = b"") -> FastResponse:
        head = b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
        return cls(head + headers, status=status, body=body, size=len(body))


FastHandler = Callable[[FastRequest], FastResponse | None]
# (the answer sent, seconds from its head read to its last byte sent, body bytes read).
Observer = Callable[[FastResponse, float, int], None]


@dataclass(frozen=True)
class FastPath:
    """What a role's app offers its worker (in ``app.extensions[FAST_PATH]``).

    ``wants_body`` says, from a request's head, whether the handler will answer it once
    its body (at most ``body_limit`` bytes) is read; others with a body are handed over.
    """

    handler: FastHandler
    write_timeout: float
    read_timeout: float = 0.0
    body_limit: int = 0
    wants_body: Callable[[FastRequest], bool] | None = None
    observe: Observer | None = None  # told of every answer sent (the request metrics)


FAST_PATH = "mdbx.fast_path"


@dataclass
class WorkerState:
    """What a worker tells its app (in ``app.extensions[WORKER_STATE]``, put there by
    an app that wants to know): ``stopping`` once its graceful stop began, so that
    responses meant to last (a node's stream) end within a second, not at the
    GRACEFUL_TIMEOUT's end."""

    stopping: bool = False


WORKER_STATE = "mdbx.worker_state"


STATUS_LINES = {
    status: f"HTTP/1.1 {status} {reason}\r\n".encode()
    for status, reason in (
        (200, "OK"),
        (400, "Bad Request"),
        (401, "Unauthorized"),
        (403, "Forbidden"),
        (404, "Not Found"),
        (408, "Request Timeout"),
        (409, "Conflict"),
        (413, "Payload Too Large"),
        (500, "Internal Server Error"),
        (502, "Bad Gateway"),
        (503, "Service Unavailable"),
        (507, "Insufficient Storage"),
    )
}


# (remote address, request line, status, body bytes, seconds, User-Agent, request id):
# the access log's line.
AccessLog = Callable[[str, str, int, int, float, str, str], None]


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

    def feed(self, body: bytes) -> bool:
        """Parse the body that follows the head; True when it completes the request."""
        try:
            self.parser.feed_data(body)
        except httptools.HttpParserError:
            return False
        return self.complete

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
    fast: FastPath,
    *,
    clock: HeadClock,
    limits: HeadLimits = DEFAULT_HEAD_LIMITS,
    turn: Callable[[], None] | None = None,
    access_log: AccessLog | None = None,
    remote: str = "-",
) -> bytes | None:
    """Answer the requests ``fast.handler`` takes on ``sock`` (blocking, gevent-patched).

    Returns None when the connection is done (closed by the client, a head out of the
    time ``clock`` gives it, or not to be kept alive), else the bytes received from the
    first declined request on, for gunicorn to carry on with. ``turn`` runs after every
    TURN_EVERY answers (gevent.sleep(0): a client that sends requests back to back
    cannot hold it longer than that).
    """
    buffered = b""
    answered = 0
    while True:
        end = buffered.find(b"\r\n\r\n")
        if end < 0:
            buffered, end = _read_head(sock, buffered, clock)
            if end < 0:
                return buffered or None
        if not limits.admits(buffered, end):
            return buffered  # gunicorn refuses it, as it would have without this loop
        head = _Head()
        try:
            head.parser.feed_data(buffered[: end + 4])
        except httptools.HttpParserError:
            return buffered
        if head.repeated:  # an ambiguous head
            return buffered
        request = FastRequest(head.parser.get_method(), head.url, head.headers)
        consumed = end + 4
        if not head.complete:  # a body follows
            length = _wanted_body_length(fast, request)
            if length is None:
                return buffered
            expect = request.headers.get(b"expect", b"").lower() == b"100-continue"
            try:
                whole = _read_body(sock, buffered, consumed + length, fast.read_timeout, expect)
            except RequestTimeout as exc:
                # The body is out of step with the connection now: answer, then close.
                sock.settimeout(fast.write_timeout or None)
                _send(sock, FastResponse.error(error_answer(exc)), keep_alive=False)
                return None
            if whole is None:
                return None
            buffered = whole
            if not head.feed(buffered[consumed : consumed + length]):
                return buffered
            request = FastRequest(
                request.method,
                request.target,
                request.headers,
                buffered[consumed : consumed + length],
            )
            consumed += length
        started = time.perf_counter()
        # Named as the Flask views name theirs (app.http.hooks.install_request_ids).
        sent_id = request.headers.get(request_ids.HEADER_LINE_NAME)
        request_id = request_ids.accept_or_make(
            None if sent_id is None else sent_id.decode("latin-1")
        )
        request_ids.current.set(request_id)
        response = fast.handler(request)
        if response is None:
            return buffered
        buffered = buffered[consumed:]
        keep_alive = head.keep_alive
        try:
            # The socket's own timeout bounds the send (cheaper than a gevent.Timeout);
            # waits for the next request are bounded by the idle timeout instead.
            sock.settimeout(fast.write_timeout or None)
            _send(sock, response, keep_alive, request_id)
            sock.settimeout(None)
        finally:
            if response.fd >= 0:
                close_file(response.fd)
        seconds = time.perf_counter() - started
        if fast.observe is not None:
            fast.observe(response, seconds, len(request.body))
        if access_log is not None:
            line = f"{request.method.decode()} {request.target.decode('latin-1')} HTTP/1.1"
            agent = request.headers.get(b"user-agent", b"").decode("latin-1")
            access_log(remote, line, response.status, response.size, seconds, agent, request_id)
        if not keep_alive:
            return None
        answered += 1
        if turn is not None and answered % TURN_EVERY == 0:
            turn()


def _wanted_body_length(fast: FastPath, request: FastRequest) -> int | None:
    """The body's length when the handler wants it read here, else None (hand over)."""
    if fast.wants_body is None or b"transfer-encoding" in request.headers:
        return None
    try:
        length = int(request.headers.get(b"content-length", b""))
    except ValueError:
        return None
    if not 0 <= length <= fast.body_limit or not fast.wants_body(request):
        return None
    return length


def _read_body(
    sock: Any, buffered: bytes, total: int, read_timeout: float, expect: bool
) -> bytes | None:
    """Receive until ``total`` bytes are buffered; None if the client leaves, and
    RequestTimeout if a read waits longer than ``read_timeout``."""
    if len(buffered) >= total:
        return buffered
    if expect:  # the client waits for this before it sends (curl does, past 1 KiB)
        _send_all(sock, b"HTTP/1.1 100 Continue\r\n\r\n")
    sock.settimeout(read_timeout or None)
    try:
        while len(buffered) < total:
            chunk = sock.recv(max(RECV_SIZE, total - len(buffered)))
            if not chunk:
                return None
            buffered += chunk
    except TimeoutError:
        raise RequestTimeout(BODY_STALLED) from None
    finally:
        sock.settimeout(None)
    return buffered


def _read_head(sock: Any, buffered: bytes, clock: HeadClock) -> tuple[bytes, int]:
    """Receive until a whole head is in; (bytes, head end) or (bytes, -1) to stop here."""
    if clock.closing and not buffered:
        return b"", -1  # a stopping worker waits for no further request
    with clock.head(begun=bool(buffered)):
        while True:
            chunk = sock.recv(RECV_SIZE)
            if not chunk:  # closed, perhaps within a head: nothing to answer
                return b"", -1
            buffered += chunk
            end = buffered.find(b"\r\n\r\n")
            if end >= 0:
                return buffered, end
            # Only a head still to come needs its own time (a second timer): most arrive
            # in one piece.
            clock.received()
            if len(buffered) > HEAD_LIMIT:
                return buffered, -1
    return b"", -1  # out of time: close unanswered, as gunicorn and nginx do


def _send_all(sock: Any, data: bytes) -> None:
    """``sock.sendall(data)``, in one ``send`` when it fits in the socket's buffer (an
    answer here nearly always does): gevent's sendall asks the kernel for the buffer's
    size at every call, a syscall per answer."""
    sent = sock.send(data)
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])


def _send(sock: Any, response: FastResponse, keep_alive: bool, request_id: str = "") -> None:
    status_line = STATUS_LINES.get(response.status) or f"HTTP/1.1 {response.status} -\r\n".encode()
    head = b"".join(
        (
            status_line,
            _clock.date_line(),
            response.headers,
            b"X-Request-Id: %s\r\n" % request_id.encode("latin-1") if request_id else b"",
            b"" if keep_alive else b"Connection: close\r\n",
            b"\r\n",
        )
    )
    if response.files:
        _send_all(sock, head)
        with corked(sock, response.size):
            for path, size in response.files:
                _send_file(sock, path, size)
    elif response.fd < 0:
        _send_all(sock, head + response.body)
    elif response.size <= INLINE_BODY:
        body = os.read(response.fd, response.size)
        if len(body) != response.size:
            raise OSError(f"blob changed size while read: {len(body)} of {response.size}")
        _send_all(sock, head + body)
    else:
        _send_all(sock, head)
        _sendfile(sock, response.fd, response.size)


def _sendfile(sock: Any, fd: int, size: int) -> None:
    with open(fd, "rb", buffering=0, closefd=False) as body_file:
        sock.sendfile(body_file, 0, size)


def _send_file(sock: Any, path: str, size: int) -> None:
    """Send the file at ``path`` whole; one gone or of another size cuts the body short
    (the error closes the connection, so the client sees fewer bytes than announced)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        if os.fstat(fd).st_size != size:
            close_file(fd)
            raise OSError(f"{path} is not the {size} bytes announced")
    except OSError as exc:
        log.error("response cut short: %s", exc)
        raise
    try:
        _sendfile(sock, fd, size)
    finally:
        close_file(fd)
