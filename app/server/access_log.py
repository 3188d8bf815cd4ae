"""Which requests the access log shows at info (the cluster's own calls only at debug),
and the fast path's lines held and written together.

A master hears two heartbeat lines every two seconds per node, plus registrations,
inventories and the rest: at info they buried a person's own requests. Calls whose
User-Agent is the cluster's (``app.cluster.agent``) are written only when LOG_LEVEL is
debug, on both of a worker's loops: gunicorn's (``QuietClusterLogger``, its
``logger_class``) and the fast path's (``app.server.worker``), through ``is_shown``.
"""

from __future__ import annotations

import logging
from typing import Any

import gevent
from gunicorn.glogging import Logger

from app.cluster.agent import is_cluster_agent

# Held access lines go out once this many bytes have gathered (or at the worker's flush).
ACCESS_BUFFER_BYTES = 32 * 1024


def is_shown(user_agent: str, loglevel: str) -> bool:
    """Whether a request sent with ``user_agent`` gets an access line at ``loglevel``."""
    return not is_cluster_agent(user_agent) or loglevel.lower() == "debug"


class QuietClusterLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, whose access lines leave out the cluster's calls below debug."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if is_shown(environ.get("HTTP_USER_AGENT", ""), self.cfg.loglevel):
            super().access(resp, req, environ, request_time)


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


def write_access_line(logger: logging.Logger, held: AccessLines | None, text: str) -> None:
    """Write one access line: into ``held`` when the worker holds lines, else as a record."""
    if not logger.isEnabledFor(logging.INFO):
        return
    if held is not None:
        held.add(text)
        return
    # Built and handed over directly: Logger.info would also walk the stack for the
    # caller's file and line, which an access line never shows.
    logger.handle(logger.makeRecord(logger.name, logging.INFO, "", 0, text, (), None))
