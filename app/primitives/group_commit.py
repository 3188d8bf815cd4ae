"""Group commit: concurrent callers share one expensive operation.

The first caller to arrive becomes the leader and runs the operation for what is
queued; the others wait. Whoever is first in line when a batch ends leads the next one,
with everything that queued up meanwhile. Under load, one master registration (one
HTTP call, one fsynced commit) serves dozens of uploads instead of one; alone, a caller
pays no wait at all. Works with real threads and, monkey-patched, with gevent's greenlets.

A few writers that each wait for their write before sending the next make batches of
one or two, and every batch's fixed costs are then paid by one or two writes. With a
``delay``, a leader whose previous batch was shared waits up to that long, until as
many callers are queued as that batch held, so that the writers about to come back
join it: PostgreSQL's ``commit_delay``, which it takes only when other transactions are
active (``commit_siblings``). Under heavy load they are queued already and nobody
waits; a caller alone never does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[R]):
    __slots__ = ("error", "lead", "result", "wake")

    def __init__(self) -> None:
        self.wake = threading.Event()  # set when the result is in, or to make it lead
        self.lead = False
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """Runs ``operation(items) -> results`` (one result per item, in order) in batches."""

    def __init__(
        self,
        operation: Callable[[Sequence[T]], Sequence[R]],
        max_batch: int,
        delay: float = 0.0,
    ) -> None:
        self.operation = operation
        self.max_batch = max_batch
        self.delay = delay
        self._last_batch_size = 0
        self._lock = threading.Lock()
        self._queue: list[tuple[T, _Slot[R]]] = []
        self._leading = False
        self._gathered: threading.Event | None = None  # set while a leader waits for more

    def submit(self, item: T) -> R:
        """Return ``item``'s result; raise what the operation raised for its batch."""
        slot: _Slot[R] = _Slot()
        with self._lock:
            self._queue.append((item, slot))
            if not self._leading:
                self._leading = slot.lead = True
            elif self._gathered is not None and len(self._queue) >= self._last_batch_size:
                self._gathered.set()  # as many as last time: the waiting leader goes now
        if not slot.lead:
            try:
                slot.wake.wait()
            except BaseException:  # killed while waiting (a stopping worker's greenlet)
                self._abandon(slot)
                raise
        if slot.lead:
            try:
                self._gather()
            except BaseException:  # killed while gathering: its batch is not taken yet
                self._abandon(slot)
                raise
            self._run_batch()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _gather(self) -> None:
        """After a shared batch, wait up to ``delay`` for as many callers as it held."""
        with self._lock:
            wanted = self._last_batch_size
            if not self.delay or wanted <= 1 or len(self._queue) >= wanted:
                return
            gathered = self._gathered = threading.Event()
        try:
            gathered.wait(self.delay)
        finally:
            with self._lock:
                self._gathered = None

    def _abandon(self, slot: _Slot[R]) -> None:
        """Take a caller that stopped waiting out of the queue; pass on the lead if it had
        just been given it, so that the callers behind it are not left waiting."""
        with self._lock:
            queued = [
                i for i, (_item, queued_slot) in enumerate(self._queue) if queued_slot is slot
            ]
            if not queued:
                return  # its batch is running or done: nothing to undo
            del self._queue[queued[0]]
            if slot.lead:
                slot.lead = False
                self._hand_on()

    def _hand_on(self) -> None:
        """Give the lead to the first in line, or none (called with the lock held)."""
        if self._queue:
            successor = self._queue[0][1]
            successor.lead = True
            successor.wake.set()
        else:
            self._leading = False

    def _run_batch(self) -> None:
        """Run the batch at the head of the queue (the leader's own item is first in it),
        then hand the lead to the next waiter: a leader never works for later callers
        longer than one batch, so under steady load no caller waits unboundedly."""
        with self._lock:
            batch = self._queue[: self.max_batch]
            del self._queue[: self.max_batch]
            self._last_batch_size = len(batch)
        try:
            results = self.operation([item for item, _slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for a batch of {len(batch)}")
            for (_item, slot), result in zip(batch, results, strict=True):
                slot.result = result
        except BaseException as exc:  # every waiter of the batch must learn of it
            for _item, slot in batch:
                slot.error = exc
        finally:
            with self._lock:
                self._hand_on()
            for _item, slot in batch:
                slot.lead = False
                slot.wake.set()
