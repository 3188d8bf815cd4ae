"""PATCHes of resumable uploads answered before their blocks are durable, made durable
("settled") behind the answer, in order.

A tus client sends one PATCH at a time and waits for each answer. Answered only once its
blocks were on R nodes, the client sat idle through every PATCH's last block write and
sync, and a page uploaded at half of curl's rate (#19). Now a PATCH that ends on a block
boundary, and is not its upload's last, is answered as soon as its bytes are received and
hashed: its blocks go on being written while the client sends the next one, and the
upload's row moves on in the database once they are durable.

- One unsettled PATCH per upload and worker: the next one's answer waits for the one
  before to settle, so an upload holds at most two PATCHes of blocks in a worker.
- What the database says (HEAD, another worker, another master) is durable. A worker
  answers a PATCH at the offset it last answered itself; another waits a moment for the
  database to reach the offset a client sends.
- An answered offset is taken back only when its blocks cannot be written: the next
  PATCH then finds the upload where the database has it (409), and a tus client asks
  HEAD where to resume. An upload becomes a file only once every block is durable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import Future

from app.metadata.resumable import ResumableStore, ResumableUpload
from app.primitives.context_pool import ContextThreadPool
from app.primitives.lru import LRUCache

# Uploads settling in one worker at once (each holds at most two PATCHes of blocks).
SETTLING = 256
# Seconds a PATCH waits for the database to reach its offset, answered by another worker.
OTHER_WORKER_WAIT = 5.0
POLL_INTERVAL = 0.02


@dataclasses.dataclass(frozen=True)
class Settling:
    """A PATCH answered, not yet durable: the upload as answered, and as stored once
    it is durable (``stored``'s result)."""

    answered: ResumableUpload
    stored: Future[ResumableUpload]

    def failed(self) -> bool:
        return self.stored.done() and self.stored.exception() is not None


class SettlingPatches:
    """This worker's PATCHes settling, by upload id."""

    def __init__(self, store: ResumableStore) -> None:
        self.store = store
        self._settling: LRUCache[str, Settling] = LRUCache(SETTLING)
        # Settles wait on the one before them, which was submitted earlier (FIFO): no
        # pool this size runs out of workers with every one of them waiting.
        self._pool = ContextThreadPool(max_workers=SETTLING, thread_name_prefix="mdbx-settle")

    def current(self, upload_id: str) -> Settling | None:
        """The upload's last PATCH answered here, while it settles (or once it failed)."""
        return self._settling.get(upload_id)

    def forget(self, upload_id: str) -> None:
        self._settling.discard(upload_id)

    def wait(self, upload_id: str) -> None:
        """Until the upload's PATCH settling here is durable, or failed."""
        settling = self._settling.get(upload_id)
        if settling is not None:
            with contextlib.suppress(Exception):  # the next request finds it as stored
                settling.stored.result()

    def defer(self, answered: ResumableUpload, make_durable: Callable[[], ResumableUpload]) -> None:
        """Settle ``answered`` behind its answer."""
        stored = self._pool.submit(make_durable)
        settling = Settling(answered, stored)
        self._settling.put(answered.id, settling)

        def forget(done: Future[ResumableUpload]) -> None:
            if done.exception() is None and self._settling.get(answered.id) is settling:
                self._settling.discard(answered.id)

        stored.add_done_callback(forget)

    def stored_at(self, upload_id: str, offset: int, most_ahead: int) -> ResumableUpload | None:
        """The upload as stored; when the client's ``offset`` is ahead of it by at most
        ``most_ahead`` (one PATCH: another worker's, settling), once the database has
        reached it or after ``OTHER_WORKER_WAIT``. None if it is gone."""
        deadline = time.monotonic() + OTHER_WORKER_WAIT
        while True:
            upload = self.store.get(upload_id)
            if upload is None or upload.is_complete or upload.offset >= offset:
                return upload
            if offset - upload.offset > most_ahead or time.monotonic() >= deadline:
                return upload
            time.sleep(POLL_INTERVAL)
