"""The gevent worker every role runs: gunicorn's, with the fast path in front.

For an app that offers a ``FastPath`` (a node's blob GETs and small raw PUTs, the
master's ``/assign`` and ``/nodes/register``), each connection starts in
``serve_connection``; the first request it declines, and the rest of that connection, go
to gunicorn's own loop with the bytes already received. Apps without one are served by
gunicorn's loop alone.
"""

from __future__ import annotations

import gc
import logging
from typing import Any

import gevent
from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

from app.fast_http import FAST_PATH, FastPath, serve_connection

# Held access lines go out once this many bytes have gathered, or every this many seconds.
ACCESS_BUFFER_BYTES = 32 * 1024
ACCESS_FLUSH_SECONDS = 1.0


class AccessLines:
    """Access lines written together, as nginx's ``access_log ... buffer=32k flush=1s``.

    A log record per request cost the master a quarter of its CPU on weed-style writes
    (the record, the handler's lock, a write per line). Lines are held until
    ``max_bytes`` have gathered or ``flush`` is called (every second by the worker), and
    go out as one record: the same bytes, for the handlers it is used with (gunicorn's
    stream and file handlers, ``suits``). A worker killed outright loses the lines of
    its last second, as nginx's buffer does.
    """

    def __init__(self, logger: logging.Logger, max_bytes: int = ACCESS_BUFFER_BYTES) -> None:
        self.logger = logger
        self.max_bytes = max_bytes
        self._lines: list[str] = []
        self._size = 0

    @staticmethod
    def suits(logger: logging.Logger) -> bool:
        """True when a record of many lines is written exactly as the lines one by one:
        only stream (and file) handlers printing the bare message, nothing else."""
        return (
            bool(logger.handlers)
            and not logger.filters
            and not logger.propagate
            and all(
                isinstance(handler, logging.StreamHandler)
                and not handler.filters
                and handler.terminator == "\n"
                and handler.formatter is not None
                and handler.formatter._fmt == "%(message)s"
                for handler in logger.handlers
            )
        )

    def add(self, line: str) -> None:
        self._lines.append(line)
        self._size += len(line) + 1
        if self._size >= self.max_bytes:
            self.flush()

    def flush(self) -> None:
        if not self._lines:
            return
        text = "\n".join(self._lines)
        self._lines, self._size = [], 0
        self.logger.handle(
            self.logger.makeRecord(self.logger.name, logging.INFO, "", 0, text, (), None)
        )

    def flush_every(self, seconds: float) -> None:
        while True:
            gevent.sleep(seconds)
            self.flush()


class _Replay:
    """A socket whose first reads return bytes already received from it."""

    def __init__(self, sock: Any, received: bytes) -> None:
        self._sock = sock
        self._received = received

    def recv(self, size: int, *flags: int) -> bytes:
        if self._received:
            chunk, self._received = self._received[:size], self._received[size:]
            return chunk
        data: bytes = self._sock.recv(size, *flags)
        return data

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


class FastGeventWorker(GeventWorker):  # type: ignore[misc]
    _access_lines: AccessLines | None = None

    def run(self) -> None:
        freeze_loaded_objects()  # gunicorn has loaded the app by now (init_process)
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

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        extensions = getattr(self.wsgi, "extensions", None) or {}
        fast: FastPath | None = extensions.get(FAST_PATH)
        if fast is None:
            super().handle(listener, client, addr)
            return
        client.setblocking(1)
        try:
            rest = serve_connection(
                client,
                fast,
                idle_timeout=self.cfg.keepalive,
                turn=gevent.sleep,
                access_log=self._log_access if self.log.access_log_enabled else None,
                remote=addr[0] if isinstance(addr, tuple) else str(addr),
            )
        except OSError:
            rest = None  # the client went away, or stopped reading for WRITE_TIMEOUT
        except Exception:
            self.log.exception("error in the fast path; connection closed")
            rest = None
        except BaseException:  # the worker is stopping (GreenletExit)
            util.close(client)
            raise
        if rest is None:
            util.close(client)
            return
        super().handle(listener, _Replay(client, rest), addr)

    def _log_access(self, remote: str, line: str, status: int, size: int, seconds: float) -> None:
        """One line in gunicorn's access log format, from the atoms the fast path knows."""
        method, _, rest = line.partition(" ")
        target = rest.rsplit(" ", 1)[0]
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
        logger = self.log.access_log
        if not logger.isEnabledFor(logging.INFO):
            return
        text = line_format % self.log.atoms_wrapper_class(atoms)
        if self._access_lines is not None:
            self._access_lines.add(text)
            return
        # Built and handed over directly: Logger.info would also walk the stack for the
        # caller's file and line, which an access line never shows.
        logger.handle(logger.makeRecord(logger.name, logging.INFO, "", 0, text, (), None))
