"""Read many sources in order, the small ones fetched ahead of the consumer.

A zip of many small files spends its time waiting: each file is one request to a node,
and read one after another the archive writer waits out every round trip. Here the
small sources are read whole, a few at once on a pool, while the consumer takes them in
order; a larger one is opened only when the consumer reaches it (it streams, with its
own read-ahead). Memory stays bounded: at most ``files`` sources and ``max_bytes`` are
read ahead, and reads are started only as the consumer moves on (nothing runs once it
stops). Each task runs in the submitter's context (``app.primitives.context_pool``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future

from app.primitives.context_pool import ContextThreadPool

# A source: its size, and a function that yields its bytes.
Source = tuple[int, Callable[[], Iterator[bytes]]]

READ_AHEAD_FILES = 8
READ_AHEAD_BYTES = 8 * 1024 * 1024
# Sources up to this size are read whole ahead of the consumer.
SMALL_SOURCE = 1024 * 1024


def read_in_order(
    sources: Sequence[Source],
    *,
    files: int = READ_AHEAD_FILES,
    max_bytes: int = READ_AHEAD_BYTES,
    small: int = SMALL_SOURCE,
) -> Generator[Iterator[bytes], None, None]:
    """Yield, for each source in order, an iterator of its bytes; consume each before
    taking the next. An error of a source is raised from its own iterator. Nothing is
    read before the first is taken; close the generator to stop (the reads under way
    finish, none starts)."""
    if not sources:
        return
    pending: deque[tuple[Source, Future[bytes] | None]] = deque()
    with ContextThreadPool(max_workers=files, thread_name_prefix="mdbx-ahead") as pool:
        queue = iter(sources)
        ahead = 0  # bytes of the sources read ahead and not yet taken
        try:
            while True:
                # Start reads up to the bounds; a large source waits its turn unread.
                while len(pending) < files and ahead < max_bytes:
                    source = next(queue, None)
                    if source is None:
                        break
                    size, read = source
                    if size <= small:
                        pending.append((source, pool.submit(_read_whole, read)))
                        ahead += size
                    else:
                        pending.append((source, None))
                if not pending:
                    return
                (size, read), future = pending.popleft()
                if future is None:
                    yield read()
                    continue
                ahead -= size
                yield _result(future)
        finally:
            for _source, left in pending:
                if left is not None:
                    left.cancel()


def _read_whole(read: Callable[[], Iterator[bytes]]) -> bytes:
    return b"".join(read())


def _result(future: Future[bytes]) -> Iterator[bytes]:
    yield future.result()
