"""What a client connection may hold, on the fast path and on gunicorn's loop alike.

A gevent worker serves each connection on a greenlet of its pool; an idle or slow client
costs a greenlet and a file descriptor for as long as it is let be. gunicorn itself only
bounds the keep-alive wait, so a client that sends half a request head was held for
IDLE_TIMEOUT, and a thousand of them filled a worker's pool: the node or master then
answered nobody. Here, as nginx does it: a request head must arrive within
HEADER_TIMEOUT (``client_header_timeout``), a body's reads within READ_TIMEOUT each
(``client_body_timeout``, applied where the body is read), heads beyond gunicorn's size
limits are refused alike on both paths, an optional cap bounds the connections of one
client address (``limit_conn``), and the process may open the descriptors its pool needs.
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httptools

log = logging.getLogger(__name__)

CONNECTION_RULES = "mdbx.connection_rules"
# Descriptors a worker may need besides its connections' sockets: the blob file or the
# outbound connection an answer holds open, databases, logs, pools to other roles.
FILES_PER_CONNECTION = 2
FILES_RESERVE = 1024


@dataclass(frozen=True)
class ConnectionRules:
    """The role's settings for its connections (``app.extensions[CONNECTION_RULES]``)."""

    header_timeout: float = 0.0  # HEADER_TIMEOUT; 0: no limit
    max_per_address: int = 0  # MAX_CONNECTIONS_PER_ADDRESS; 0: no cap


@dataclass(frozen=True)
class HeadLimits:
    """gunicorn's limits on a request head: request line, field count, field line size.

    The fast path hands a head beyond them over to gunicorn, which refuses it (414, 431)
    as it refuses every other: one rule, one answer, whichever loop read the head.
    """

    line: int = 4094
    fields: int = 100
    field_size: int = 8190

    def admits(self, head: bytes, end: int) -> bool:
        """Whether ``head[:end]`` (request line and fields, without the blank line) is
        within every limit; on the boundary it says no, and gunicorn decides."""
        if head.count(b"\r\n", 0, end) >= self.fields:
            return False
        if end < min(self.line, self.field_size - 2):  # no line can be too long
            return True
        request_line, *fields = head[:end].split(b"\r\n")
        return len(request_line) < self.line and all(
            len(field) + 2 < self.field_size for field in fields
        )


# gunicorn's defaults.
DEFAULT_HEAD_LIMITS = HeadLimits()


class HeadClock:
    """The time the request heads of one connection may take, as nginx allows it.

    A new connection has ``header_timeout`` from its accept for its first head; on a
    kept-alive one the next head may be waited for ``idle_timeout``, and has
    ``header_timeout`` from its first byte to arrive whole (0: no limit). Used as
    ``with clock.head(begun): ...`` around the reading of one head, whoever reads the
    socket calling ``received()`` when bytes come; past its time the block ends quietly,
    with ``expired`` set.
    """

    __slots__ = (
        "_begun",
        "_first",
        "_timer",
        "closing",
        "expired",
        "header_timeout",
        "idle",
        "idle_timeout",
    )

    def __init__(self, idle_timeout: float, header_timeout: float) -> None:
        self.idle_timeout = idle_timeout
        self.header_timeout = header_timeout
        self.expired = False
        # ``idle``: waiting for a kept-alive connection's next head, none of it received
        # yet; ``closing``: the worker is stopping, so no such wait begins (see
        # ``FastGeventWorker.handle_exit``).
        self.idle = False
        self.closing = False
        self._first = True
        self._begun = False
        self._timer: Any = None

    def head(self, begun: bool = False) -> HeadClock:
        """Time the next head; ``begun``: some of it has been received already."""
        self._begun = begun or self._first
        self._first = False
        return self

    def received(self) -> None:
        """Bytes came: a head waited for as idle has begun, and its own time runs."""
        self.idle = False
        if self._timer is not None and not self._begun:
            self._begun = True
            self._timer.close()
            self._start(self.header_timeout)

    def __enter__(self) -> HeadClock:
        self.expired = False
        self.idle = not self._begun
        self._start(self.header_timeout if self._begun else self.idle_timeout)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        timer, self._timer = self._timer, None
        timer.close()
        self.idle = False
        if error is not None and error is timer:
            self.expired = True
            return True
        return False

    def _start(self, seconds: float) -> None:
        import gevent  # the clock runs in gevent workers only; importing it patches nothing

        self._timer = gevent.Timeout(seconds or None)
        self._timer.start()


class RequestFraming:
    """Whether a connection's bytes received so far end within a request message (its
    head or body), as llhttp (httptools) frames them.

    gunicorn's loop buffers what it receives, so a head pipelined behind a request may be
    in already when the wait for it begins: that wait is then the head's own time, not
    an idle keep-alive one. A stream llhttp cannot follow counts as within a message.
    """

    __slots__ = ("_parser", "within")

    def __init__(self) -> None:
        self.within = False
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)

    def feed(self, data: bytes) -> None:
        if self._parser is None:
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:  # an upgrade too: not HTTP/1 framing any more
            self._parser = None
            self.within = True

    def on_message_begin(self) -> None:
        self.within = True

    def on_message_complete(self) -> None:
        self.within = False


class AddressCap:
    """At most ``limit`` connections at once from one client address, in one worker
    (0: no cap). Behind a proxy every client has the proxy's address: leave it off."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.refused = 0
        self._open: dict[str, int] = {}

    def admit(self, address: str) -> bool:
        """Count a new connection from ``address``; False (not counted) over the cap."""
        count = self._open.get(address, 0)
        if count >= self.limit > 0:
            self.refused += 1
            return False
        self._open[address] = count + 1
        return True

    def release(self, address: str) -> None:
        """A connection admitted from ``address`` has ended."""
        count = self._open.pop(address) - 1
        if count:
            self._open[address] = count


def open_files_wanted(worker_connections: int) -> tuple[int, int]:
    """Descriptors one worker may hold with ``worker_connections`` clients, busy, and
    the fewest it needs to hold that many idle (a socket each)."""
    return (
        worker_connections * FILES_PER_CONNECTION + FILES_RESERVE,
        worker_connections + FILES_RESERVE,
    )


def raise_open_file_limit(wanted: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``wanted`` (at most the hard
    limit; workers forked later inherit it); return the soft limit now in force.

    The usual soft limit, 1024, would end a worker's accepts (EMFILE) long before its
    pool of WORKER_CONNECTIONS is full; the hard limit is what the system allows.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (OSError, ValueError) as exc:
        log.warning("could not raise the open file limit from %d to %d: %s", soft, target, exc)
        return soft
    return target
