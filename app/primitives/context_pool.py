"""A thread pool whose tasks run in the context of the code that submitted them.

``concurrent.futures`` runs each task in its worker thread's own context, so what a
request set in a ``ContextVar`` (its id: ``app.cluster.request_ids``) is not seen by
the block writes and reads it hands to a pool. Each task here runs in a copy of the
submitter's context.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class ContextThreadPool(ThreadPoolExecutor):
    """``ThreadPoolExecutor`` whose tasks (``submit`` and ``map``) see the caller's context."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)
