"""What a gevent worker needs beyond monkey-patching: zero-copy responses (os.sendfile
that waits on the hub, not a copy loop), fair turns between connections, and blocking
system calls (fsync) moved off the hub.

gunicorn sends a ``wsgi.file_wrapper`` body with ``socket.sendfile``; gevent's version of
that method is a read/send loop in 8 KiB pieces, about a third of nginx's rate on large
files (measured in the perf baseline). This replaces it, in gevent-patched workers only,
with the kernel's sendfile on the non-blocking socket, parking the greenlet on the hub
while the socket buffer is full. Like nginx's ``tcp_nopush``, the socket is corked
meanwhile for a big body: only full segments leave until it is sent.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any, TypeVar, cast

MAX_CHUNK = 1 << 30
# Bodies from this size on are sent corked. Measured: 64 connections reading 1 MiB each
# got 3,300-3,750 MB/s uncorked and 2,800-3,200 corked; a single big stream gains.
CORK_MIN_BYTES = 16 << 20
T = TypeVar("T")


def _gevent_sendfile(sock: Any, file: IO[bytes], offset: int = 0, count: int | None = None) -> int:
    file_no, sock_no = file.fileno(), sock.fileno()
    if count is None:
        count = os.fstat(file_no).st_size - offset
    with corked(sock, count):
        sent = _sendfile_all(sock, file_no, sock_no, offset, count)
    file.seek(offset + sent)
    return sent


@contextlib.contextmanager
def corked(sock: Any, size: int) -> Iterator[None]:
    """Send only full segments while a body of ``size`` bytes (a big one) goes out.

    Uncorked (TCP_NODELAY, as gunicorn sets), each sendfile's tail left as a short
    segment: a node's 256 MiB GET reached 0.76-0.78 of nginx, corked 0.92-0.97.
    """
    on = size >= CORK_MIN_BYTES and _cork(sock, True)
    try:
        yield
    finally:
        if on:  # sends the rest now: left corked, a keep-alive connection's next
            _cork(sock, False)  # short answer would wait 200 ms


def _sendfile_all(sock: Any, file_no: int, sock_no: int, offset: int, count: int) -> int:
    from gevent.socket import wait_write

    sent = 0
    timeout = sock.gettimeout()
    while sent < count:
        try:
            n = os.sendfile(sock_no, file_no, offset + sent, min(count - sent, MAX_CHUNK))
        except BlockingIOError:
            wait_write(sock_no, timeout=timeout)  # raises socket.timeout past WRITE_TIMEOUT
            continue
        if n == 0:  # the file is shorter than announced: stop, the peer sees a short body
            break
        sent += n
    return sent


def _cork(sock: Any, on: bool) -> bool:
    """Set TCP_CORK; False where it does not apply (a Unix socket)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, int(on))
        return True
    return False


def install_gevent_sendfile() -> bool:
    """Use the kernel's sendfile in a gevent-patched process; tell whether it was installed."""
    if not gevent_patched():
        return False
    from gevent.socket import socket as gevent_socket

    gevent_socket.sendfile = _gevent_sendfile
    return True


def fair_turn() -> Callable[[], None] | None:
    """In a gevent worker, a call that puts the current request behind the other ready ones.

    On a keep-alive connection whose client answers fast (loopback, a load generator),
    the next request is already in the socket when the greenlet looks for it, so it
    never parks on the hub: one connection keeps the worker while 63 others wait
    seconds. One ``gevent.sleep(0)`` per request puts it at the back of the queue.
    None outside gevent (the Flask test client, threads).
    """
    if not gevent_patched():
        return None
    import gevent

    turn: Callable[[], None] = gevent.sleep
    return turn


def install_fair_turns(app: Any) -> bool:
    """Give every Flask request of a gevent worker its turn (see ``fair_turn``)."""
    turn = fair_turn()
    if turn is not None:
        app.before_request(turn)
    return turn is not None


def off_hub(function: Callable[..., T], *args: Any) -> T:
    """Run a blocking system call (fsync) on gevent's thread pool when in a gevent worker.

    An fsync called on the hub stops every greenlet of the worker until the disk
    answers: concurrent uploads then wait in line, one flush each. On the pool they
    overlap, and the filesystem's journal commits them together. Elsewhere (threads,
    tests) the call runs in place.
    """
    if gevent_patched():
        from gevent import get_hub

        result: T = get_hub().threadpool.apply(function, args)
        return result
    return function(*args)


class SerialThread:
    """Calls run one after another, in order, on a thread of their own: a real thread in a
    gevent worker (gevent's pool of one), so that the hub goes on meanwhile; ``submit``
    returns a function that waits for the call's result (or raises its error)."""

    def __init__(self) -> None:
        self._gevent_pool: Any = None
        self._executor: ThreadPoolExecutor | None = None
        if gevent_patched():
            from gevent.threadpool import ThreadPool

            self._gevent_pool = ThreadPool(1)
        else:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mdbx-serial")

    def submit(self, function: Callable[..., T], *args: Any) -> Callable[[], T]:
        if self._executor is not None:
            return self._executor.submit(function, *args).result
        return cast(Callable[[], T], self._gevent_pool.spawn(function, *args).get)

    def close(self) -> None:
        """Wait for the calls submitted so far, then end the thread."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        else:
            self._gevent_pool.join()
            self._gevent_pool.kill()


def gevent_patched() -> bool:
    """Whether this process runs under gevent's monkey-patching (a gunicorn gevent worker)."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("socket"))
