"""Cut an upload streamed through the master into blocks, stored as it arrives.

Memory stays bounded whatever the file's size: at most one block being filled plus
``IN_FLIGHT`` blocks being hashed or written to nodes. Hashing (each block, and the whole
file) runs on a thread of its own, in order, while the worker goes on receiving: on the
worker it was 28 % of the master's time on a 256 MiB upload. A file that fits in one
block is stored as one blob under its own hash, as the reference API does; a larger one
becomes a manifest. A block the cluster already holds is not sent again. An ingest that
stops before its file is committed (a client gone, a quota reached) deletes the blocks it
wrote that nothing else has taken since.

Each block costs one commit before it is written: its reference, which keeps a collection
from deleting it (or the copy being written) meanwhile. The ingest's own upload row is
written in its first block's, and the copies written are recorded all at once, with the
file (``finish``) or in the transaction that takes the blocks over (``hand_over``): a
tus PATCH of two blocks was seven commits, half of the master's time on it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection

from app.errors import HashMismatch, UploadNotFound
from app.master.replication import drop_copies
from app.master.writer import ReplicatedWriter
from app.metadata.cluster import ClusterStore
from app.metadata.engine import batches, write_transaction
from app.metadata.records import FileRecord, NodeRecord
from app.metadata.uploads import Upload, UploadStore, new_upload
from app.primitives.context_pool import ContextThreadPool
from app.primitives.offhub import SerialThread

log = logging.getLogger(__name__)

# Blocks written to nodes while the next one is read from the client.
IN_FLIGHT = 2


@dataclasses.dataclass(frozen=True)
class WrittenBlock:
    """A block this ingest wrote to nodes, whose copies the catalogue does not have yet."""

    hash: str
    size: int
    stored_on: tuple[str, ...]
    created_on: tuple[str, ...]


class BlockIngest:
    """A sink (``write``, then ``finish``) that stores what it is given as blocks."""

    def __init__(
        self,
        writer: ReplicatedWriter,
        uploads: UploadStore,
        cluster: ClusterStore,
        live: list[NodeRecord],
        block_size: int,
        ttl: float,
        *,
        public: bool = True,
        file_hash: Any = None,
        unhashed: int = 0,
    ) -> None:
        """``file_hash``: a hashlib state to go on with (a resumable upload's, whose
        earlier bytes it covers); its first ``unhashed`` bytes written here are the tail
        of those bytes (a block being completed), left out of it."""
        self.writer = writer
        self.cluster = cluster
        self.public = public
        self.uploads = uploads
        self.store = uploads.store
        self.ttl = ttl
        # Made at the first full block, its row written with that block's reference: its
        # references keep the blocks stored so far from garbage collection until the
        # manifest is committed (or another row takes them over).
        self._upload: Upload | None = None
        self._opened = False
        self.live = live
        # One order of the nodes for every block: a file's blocks go to the same R nodes,
        # so that one of them can send the whole file (``/download`` -> a node's ``/file``).
        self.ranked = writer.rank_nodes(live)
        self.block_size = block_size
        self.size = 0
        self.stored_on: dict[str, tuple[str, ...]] = {}
        self.file_hash = file_hash if file_hash is not None else hashlib.sha256()
        self._unhashed = unhashed
        self._hasher: SerialThread | None = None  # started at the first full block
        self._buffer = bytearray()
        self._blocks: list[tuple[str, int]] = []
        self._hashed: list[Callable[[], str]] = []  # each block's hash, once hashed
        # Blocks this ingest sent to nodes: deleted again if the file is not committed.
        self._written: list[str] = []
        self._unrecorded: list[WrittenBlock] = []  # their copies, until recorded
        self._pool = ContextThreadPool(max_workers=IN_FLIGHT, thread_name_prefix="mdbx-ingest")
        self._pending: deque[Future[None]] = deque()

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._buffer += chunk
        # Strictly more than a block: a file of exactly one block stays one blob.
        while len(self._buffer) > self.block_size:
            with memoryview(self._buffer) as view:
                block = bytes(view[: self.block_size])
            del self._buffer[: self.block_size]
            self._submit(block)

    def finish(self, name: str, expected: str | None = None) -> FileRecord:
        """Store what is left and register the file under ``name``; with ``expected``,
        only if the file hashes to it (else HashMismatch: a blob of one block is never
        written, and ``abort`` deletes the blocks already written)."""
        try:
            if not self._blocks:
                data = bytes(self._buffer)
                digest = hashlib.sha256(data).hexdigest()
                _check_digest(digest, expected)
                result = self.writer.write(
                    self.live, lambda: data, digest, name or digest, private=not self.public
                )
                self.stored_on[digest] = result.stored_on
                return self.store.register(
                    FileRecord(
                        digest, name or digest, self.size, result.stored_on, public=self.public
                    ),
                    created_on=result.created_on,
                )
            self._submit(bytes(self._buffer))
            self._buffer.clear()
            self._drain(0)
            assert self._upload is not None and self._hasher is not None
            digest = self._hasher.submit(self.file_hash.hexdigest)()
            _check_digest(digest, expected)
            self._record_copies_now()
            committed = dataclasses.replace(
                self._upload,
                name=name or digest,
                size=self.size,
                hash=digest,
                blocks=tuple(self._blocks),
            )
            record = self.uploads.commit(committed, public=self.public)
            self._upload, self._opened = None, False
            self._written.clear()  # the file's now
            return record
        finally:
            self.abort()

    def hashed_blocks(self) -> list[tuple[str, int]]:
        """Store what is left as a last (maybe shorter) block, and wait until every block
        is hashed (the file hash too), not written: (hash, size) in order. Nothing more
        may be written; ``finish_blocks`` then waits for the writes."""
        if self._buffer:
            self._submit(bytes(self._buffer))
            self._buffer.clear()
        return [
            (hashed(), size)
            for hashed, (_hash, size) in zip(self._hashed, self._blocks, strict=True)
        ]

    def finish_blocks(self) -> list[tuple[str, int]]:
        """Store what is left as a last (maybe shorter) block and wait for every block;
        return them, (hash, size) in order, without making a file of them. Then
        ``hand_over`` in the transaction that refers to them elsewhere, and ``close``
        once it committed; or ``abort``."""
        self.hashed_blocks()
        self._drain(0)
        return list(self._blocks)

    def hand_over(self, conn: Connection) -> None:
        """Inside the transaction in which something else takes the blocks' references
        over: record their copies written, and close this ingest's own upload."""
        self._record_copies(conn)
        if self._opened and self._upload is not None:
            self.uploads.close_in(conn, self._upload.id)

    def close(self) -> None:
        """Stop, keeping the blocks written: ``hand_over``'s transaction committed."""
        self._written.clear()
        self._unrecorded.clear()
        self._upload, self._opened = None, False
        self.abort()

    def abort(self) -> None:
        """Stop (after finish, or an error). The blocks written for a file that never
        came to be are deleted now, from the catalogue and the live nodes (the others
        owe the delete until their next beat), except those another file or upload
        took meanwhile."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._hasher is not None:
            self._hasher.close()
        if self._upload is not None and self._opened:
            with contextlib.suppress(UploadNotFound):
                self.uploads.abort(self._upload.id)
        self._upload, self._opened = None, False
        written, self._written = list(dict.fromkeys(self._written)), []
        try:
            # Recorded first, so that the collection below finds them and has the nodes
            # drop them (unless something else took them meanwhile).
            self._record_copies_now()
            self._delete_blocks(written)
        except Exception:
            # The error that stopped the upload is the one to answer; these blocks
            # are garbage, and collection deletes them after GC_GRACE.
            log.exception("blocks of an unfinished upload left to garbage collection")

    def _delete_blocks(self, hashes: list[str]) -> None:
        # Referenced before now by anything else (a file's manifest, an upload's block
        # list): kept. The upload closed above no longer counts.
        cutoff = time.time()
        for chunk in batches(hashes):
            purged = self.store.collect_garbage(cutoff, len(chunk), hashes=chunk)
            drop_copies(self.writer.nodes, self.cluster, purged, self.live)

    def _record_copies(self, conn: Connection) -> None:
        now = time.time()
        for block in self._unrecorded:
            self.store.add_blobs(
                conn,
                [(block.hash, block.size)],
                block.stored_on,
                now,
                private=not self.public,
                created_on=block.created_on,
            )

    def _record_copies_now(self) -> None:
        if self._unrecorded:
            with write_transaction(self.store.engine) as conn:
                self._record_copies(conn)
            self._unrecorded.clear()

    def _submit(self, block: bytes) -> None:
        if self._upload is None:
            self._upload = new_upload("", 0, "", self.block_size, (), self.ttl)
            self._hasher = SerialThread()
        assert self._hasher is not None
        hashed = self._hasher.submit(self._hash_block, block)
        self._hashed.append(hashed)
        seq = len(self._blocks)
        self._blocks.append(("", len(block)))  # its hash once hashed
        self._drain(IN_FLIGHT - 1)
        self._pending.append(self._pool.submit(self._store_block, seq, hashed, block))

    def _hash_block(self, block: bytes) -> str:
        """On the hasher's thread, block after block: the file's hash goes on too."""
        skip, self._unhashed = min(self._unhashed, len(block)), max(0, self._unhashed - len(block))
        with memoryview(block) as view:
            self.file_hash.update(view[skip:])
        return hashlib.sha256(block).hexdigest()

    def _drain(self, keep: int) -> None:
        """Wait until at most ``keep`` blocks are in flight; re-raise a failed write."""
        while len(self._pending) > keep:
            self._pending.popleft().result()

    def _store_block(self, seq: int, hashed: Callable[[], str], block: bytes) -> None:
        block_hash = hashed()
        assert self._upload is not None
        # Two blocks in flight may both open the row: the second finds it there.
        opening = None if self._opened else self._upload
        known = self.uploads.add_block(
            self._upload.id, seq, block_hash, len(block), opening=opening
        )
        self._opened = True
        self._blocks[seq] = (block_hash, len(block))
        if block_hash in self.stored_on:
            return
        live_ids = {node.id for node in self.live}
        # Public content counts only public copies: its bytes, uploaded here, make the
        # copies it writes public (a private copy is served only through signed URLs).
        copies = self.store.blob_copies([block_hash], public_only=self.public) if known else {}
        held = copies.get(block_hash, ())
        if any(node in live_ids for node in held):
            self.stored_on[block_hash] = held  # already in the cluster: not sent again
            return
        result = self.writer.write(
            self.ranked,
            lambda: block,
            block_hash,
            block_hash,
            kind="block",
            ranked=True,
            private=not self.public,
        )
        self._unrecorded.append(
            WrittenBlock(block_hash, len(block), result.stored_on, result.created_on)
        )
        self.stored_on[block_hash] = result.stored_on
        self._written.append(block_hash)


def _check_digest(digest: str, expected: str | None) -> None:
    if expected is not None and digest != expected:
        raise HashMismatch(f"content hashes to {digest}, not {expected}")
