"""Blocking system calls (fsync, hashing) moved off the gevent hub, where there is one.

Primitives engines may use: outside a gevent worker (threads, tests) they run in place or
on an ordinary thread.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

T = TypeVar("T")


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


def close_file(fd: int) -> None:
    """``os.close`` of a regular file's descriptor, without gevent's patched ``close``,
    which stats every descriptor first to cancel any watcher on it (gevent 25.8.1): no
    watcher ever waits on a regular file, and a blob's answer closes one per request."""
    _plain_close()(fd)


@functools.cache
def _plain_close() -> Callable[[int], None]:
    if gevent_patched():
        from gevent import monkey

        original: Callable[[int], None] = monkey.get_original("os", "close")
        return original
    return os.close


def gevent_patched() -> bool:
    """Whether this process runs under gevent's monkey-patching (a gunicorn gevent worker)."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("socket"))


def native_rlock() -> Any:
    """A re-entrant lock of the operating system's, even under gevent's monkey-patching.

    For a critical section entered both on the hub and on gevent's thread pool (a blob
    moved into place by a pool thread, deleted by a greenlet): a patched lock waited on
    by a pool thread relies on a wake-up from another thread's hub, and two nodes were
    seen stuck on one forever. An OS lock blocks the hub while a thread holds it, so the
    sections must be short and must never yield (no I/O off the hub inside them).
    """
    if gevent_patched():
        from gevent import monkey

        return monkey.get_original("_thread", "RLock")()
    import threading

    return threading.RLock()
