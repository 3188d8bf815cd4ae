"""The gevent worker every role runs: gunicorn's, with the fast path in front.

For an app that offers a ``FastPath`` (a node's blob GETs and small raw PUTs, the
master's ``/assign`` and ``/nodes/register``), each connection starts in
``serve_connection``; the first request it declines, and the rest of that connection, go
to gunicorn's own loop with the bytes already received. Apps without one are served by
gunicorn's loop alone. On both loops a request head has the time HEADER_TIMEOUT gives it
(``app.server.limits``), heads beyond gunicorn's limits get gunicorn's refusal, in
the JSON error shape of every other answer, and a client address may be capped.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import socket
import time
from collections.abc import Iterator
from http import HTTPStatus
from importlib import metadata
from typing import Any

import gevent
from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

from app.metrics.families import REQUEST_COUNTS
from app.server.access_log import AccessLines, is_shown, write_access_line
from app.server.connection import (
    FAST_PATH,
    WORKER_STATE,
    FastPath,
    WorkerState,
    serve_connection,
)
from app.server.json_logs import JsonClusterLogger, access_record
from app.server.limits import (
    CONNECTION_RULES,
    DEFAULT_HEAD_LIMITS,
    AddressCap,
    ConnectionRules,
    HeadClock,
    HeadLimits,
    RequestFraming,
)

# Held access lines go out every this many seconds (or once ACCESS_BUFFER_BYTES gathered).
ACCESS_FLUSH_SECONDS = 1.0
METRICS_FLUSH_SECONDS = 1.0
# Connections refused over the per-address cap are logged at most this often (seconds).
CAP_LOG_SECONDS = 60.0
# gunicorn's own bounds on its limits (gunicorn.http.message): 0 or less means these.
MAX_REQUEST_LINE = 8190
MAX_HEADER_FIELDS = 32768
# gunicorn's error messages may quote what the client sent: this much of it.
MAX_ERROR_MESSAGE = 200


class _Replay:
    """A socket whose first reads return bytes already received from it, and that tells
    the connection's head clock when bytes come and where they stand between requests."""

    def __init__(self, sock: Any, received: bytes, clock: HeadClock) -> None:
        self._sock = sock
        self._received = received
        self.clock = clock
        self.framing = RequestFraming()

    def recv(self, size: int, *flags: int) -> bytes:
        if self._received:
            chunk, self._received = self._received[:size], self._received[size:]
        else:
            try:
                chunk = self._sock.recv(size, *flags)
            except OSError as exc:
                # A graceful stop's end of the worker closed the socket under this wait
                # (gevent's cancel_wait_ex): the connection closed, not an error for
                # gunicorn to log with a traceback.
                if self.clock.closing and exc.errno == errno.EBADF:
                    return b""
                raise
        if chunk:
            self.framing.feed(chunk)
            self.clock.received()
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def freeze_loaded_objects() -> int:
    """Collect what loading the app left behind, then put every object alive now out of
    the cyclic collector's reach; return how many that is.

    They live as long as the worker (modules, the app, its engines and metadata), yet
    every full collection walked all of them: on a node serving 4 KiB GETs to 64
    connections, those pauses made the p99 21-32 ms (5-8 ms frozen). CPython's
    ``gc.freeze`` is meant for this (Instagram's prefork servers).
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def head_limits(cfg: Any) -> HeadLimits:
    """gunicorn's limits on a request head as its parser applies them."""
    line = cfg.limit_request_line
    fields = cfg.limit_request_fields
    return HeadLimits(
        line=MAX_REQUEST_LINE if line < 0 or line > MAX_REQUEST_LINE else line or 1 << 20,
        fields=MAX_HEADER_FIELDS if not 0 < fields <= MAX_HEADER_FIELDS else fields,
        field_size=cfg.limit_request_field_size if cfg.limit_request_field_size > 0 else 8190,
    )


class _ErrorAnswer:
    """The client socket as gunicorn's ``handle_error`` writes to it: the answer it
    writes is kept, to be sent in our JSON error shape."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.written = b""

    def sendall(self, data: bytes) -> None:
        self.written += data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def json_error(status: int, message: str) -> bytes:
    """A whole answer of ``status`` in our error shape, closing the connection; the code
    is the status's name in snake_case (431 ``request_header_fields_too_large``, 414
    ``request_uri_too_long``)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    code = "internal_error" if status == 500 else phrase.lower().replace(" ", "_").replace("-", "_")
    error = {"error": {"code": code, "message": message or phrase.lower()}}
    body = (json.dumps(error, separators=(",", ":")) + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


@contextlib.contextmanager
def entry_points_read_once() -> Iterator[None]:
    """Within the block, ``importlib.metadata.entry_points`` selects from one reading.

    gevent's patch_all looks for plugins at each of its ~25 patch events, and each look
    read the metadata of every installed distribution again: ~50 ms of a worker's boot.
    The plugins are the same ones; they are only found once."""
    every = metadata.entry_points()
    real = metadata.entry_points
    metadata.entry_points = every.select
    try:
        yield
    finally:
        metadata.entry_points = real


class FastGeventWorker(GeventWorker):  # type: ignore[misc]
    _access_lines: AccessLines | None = None
    _rules = ConnectionRules()
    _limits = DEFAULT_HEAD_LIMITS
    _cap = AddressCap(0)
    _cap_logged = -CAP_LOG_SECONDS  # the first refusal is logged

    def patch(self) -> None:
        """gunicorn's patch (gevent's patch_all), its plugins looked up in one reading."""
        with entry_points_read_once():
            super().patch()

    def load_wsgi(self) -> None:
        """Load the app (gunicorn's init_process), then take its rules for connections."""
        super().load_wsgi()
        extensions = getattr(self.wsgi, "extensions", None) or {}
        self._rules = extensions.get(CONNECTION_RULES) or ConnectionRules()
        self._limits = head_limits(self.cfg)
        self._cap = AddressCap(self._rules.max_per_address)
        # The connections on gunicorn's loop, by the greenlet serving each.
        self._connections: dict[Any, _Replay] = {}
        # Every open connection's head clock, to end the idle ones at a graceful stop.
        self._clocks: dict[Any, HeadClock] = {}

    def run(self) -> None:
        freeze_loaded_objects()  # gunicorn has loaded the app by now (init_process)
        # Requests are counted in plain numbers, written to the metric files each second.
        counts = gevent.spawn(REQUEST_COUNTS.flush_every, METRICS_FLUSH_SECONDS, gevent.sleep)
        try:
            self._run_logging_access()
        finally:
            counts.kill()
            REQUEST_COUNTS.flush()

    def _run_logging_access(self) -> None:
        logger = self.log.access_log
        if not (self.log.access_log_enabled and AccessLines.suits(logger)):
            super().run()
            return
        self._access_lines = lines = AccessLines(logger)
        flusher = gevent.spawn(lines.flush_every, ACCESS_FLUSH_SECONDS)
        try:
            super().run()
        finally:
            flusher.kill()
            lines.flush()

    def handle_exit(self, sig: Any, frame: Any) -> None:
        """SIGTERM: the graceful stop begins; the app hears of it (``WorkerState``)."""
        # A worker still loading the app has none yet (the signal came during its boot):
        # it stops once loaded, rather than exit as a failed boot that halts the arbiter.
        extensions = getattr(getattr(self, "wsgi", None), "extensions", None) or {}
        state: WorkerState | None = extensions.get(WORKER_STATE)
        if state is not None:
            state.stopping = True
        self._close_idle_connections()
        super().handle_exit(sig, frame)

    def _close_idle_connections(self) -> None:
        """End the kept-alive connections waiting for a next request, as nginx does at a
        graceful stop: else each held the worker until the GRACEFUL_TIMEOUT (a client's
        pool always keeps one). Connections within a request finish it, then close."""
        for client, clock in list(getattr(self, "_clocks", {}).items()):
            clock.closing = True
            if clock.idle:
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        address = addr[0] if isinstance(addr, tuple) else None  # None: a Unix socket
        if address is None or not self._cap.limit:
            self._serve(listener, client, addr)
            return
        if not self._cap.admit(address):
            # Closed unread and unanswered: the cheapest refusal, and the one a client
            # holding that many connections open is least able to use.
            util.close(client)
            self._log_refusals(address)
            return
        try:
            self._serve(listener, client, addr)
        finally:
            self._cap.release(address)

    def timeout_ctx(self) -> Any:
        """What gunicorn's loop waits for each head under: the connection's clock."""
        conn = self._connections.get(gevent.getcurrent())
        if conn is None:
            return super().timeout_ctx()
        return conn.clock.head(begun=conn.framing.within)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        """gunicorn's answer to a request it refuses (431, 414, 400...), with its
        status, logging and access line, in our JSON error shape."""
        answer = _ErrorAnswer(client)
        super().handle_error(req, answer, addr, exc)
        try:
            status = int(answer.written.split(b" ", 2)[1])
        except (IndexError, ValueError):
            return  # it wrote nothing
        message = "" if status >= 500 else str(exc)[:MAX_ERROR_MESSAGE]
        try:
            util.write_nonblock(client, json_error(status, message))
        except Exception:
            self.log.debug("Failed to send error message.")

    def _log_refusals(self, address: str) -> None:
        now = time.monotonic()
        if now - self._cap_logged >= CAP_LOG_SECONDS:
            self._cap_logged = now
            self.log.warning(
                "closed %d connection(s) over MAX_CONNECTIONS_PER_ADDRESS=%d so far, "
                "the latest from %s",
                self._cap.refused,
                self._cap.limit,
                address,
            )

    def _serve(self, listener: Any, client: Any, addr: Any) -> None:
        """One connection: on the fast path first, when the app has one, then on
        gunicorn's loop; the same clock times the heads of both."""
        extensions = getattr(self.wsgi, "extensions", None) or {}
        fast: FastPath | None = extensions.get(FAST_PATH)
        clock = HeadClock(self.cfg.keepalive, self._rules.header_timeout)
        client.setblocking(1)
        self._clocks[client] = clock
        try:
            rest = b"" if fast is None else self._serve_fast(client, fast, clock, addr)
            if rest is None:
                util.close(client)
                return
            self._handle_on_gunicorn(listener, client, rest, clock, addr)
        finally:
            del self._clocks[client]

    def _serve_fast(self, client: Any, fast: FastPath, clock: HeadClock, addr: Any) -> bytes | None:
        try:
            return serve_connection(
                client,
                fast,
                clock=clock,
                limits=self._limits,
                turn=gevent.sleep,
                access_log=self._log_access if self.log.access_log_enabled else None,
                remote=addr[0] if isinstance(addr, tuple) else str(addr),
            )
        except OSError:
            return None  # the client went away, or stopped reading for WRITE_TIMEOUT
        except Exception:
            self.log.exception("error in the fast path; connection closed")
            return None
        except BaseException:  # the worker is stopping (GreenletExit)
            util.close(client)
            raise

    def _handle_on_gunicorn(
        self, listener: Any, client: Any, received: bytes, clock: HeadClock, addr: Any
    ) -> None:
        """gunicorn's loop on the connection, from the bytes ``received`` on, its heads
        timed by ``clock`` (see ``timeout_ctx``)."""
        current = gevent.getcurrent()
        self._connections[current] = conn = _Replay(client, received, clock)
        try:
            super().handle(listener, conn, addr)
        finally:
            del self._connections[current]

    def _log_access(
        self,
        remote: str,
        line: str,
        status: int,
        size: int,
        seconds: float,
        agent: str = "",
        request_id: str = "",
    ) -> None:
        """One line in gunicorn's access log format (or JSON: ``app.server.json_logs``),
        from the atoms the fast path knows (none for the cluster's own calls below
        debug: ``app.server.access_log``)."""
        if agent and not is_shown(agent, self.cfg.loglevel):
            return
        method, _, rest = line.partition(" ")
        target = rest.rsplit(" ", 1)[0]
        if isinstance(self.log, JsonClusterLogger):
            write_access_line(
                self.log.access_log,
                self._access_lines,
                access_record(
                    process=self.cfg.proc_name,
                    remote=remote,
                    method=method,
                    target=target,
                    status=status,
                    size=size,
                    seconds=seconds,
                    agent=agent,
                    request_id=request_id,
                ),
            )
            return
        path, _, query = target.partition("?")
        atoms = {
            "h": remote,
            "r": line,
            "s": status,
            "m": method,
            "U": path,
            "q": query,
            "H": "HTTP/1.1",
            "b": str(size),
            "B": size,
            "T": int(seconds),
            "D": int(seconds * 1_000_000),
            "M": int(seconds * 1000),
            "L": f"{seconds:.6f}",
            "p": f"<{self.pid}>",
        }
        line_format = self.cfg.access_log_format
        if "%(t)" in line_format:  # a strftime per request otherwise
            atoms["t"] = self.log.now()
        write_access_line(
            self.log.access_log,
            self._access_lines,
            line_format % self.log.atoms_wrapper_class(atoms),
        )
