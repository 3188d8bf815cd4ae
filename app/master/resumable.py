"""Resumable uploads on the block store: each PATCH's bytes become blocks on R nodes.

A PATCH is cut into blocks at the block boundaries of the upload's own offsets, so that
a client sending block-aligned chunks (the advertised chunk size is a multiple of the
block size) makes exactly the blocks any other upload of these bytes makes, and they
dedup. A PATCH that ends between two boundaries (a connection cut, a client with another
chunk size) leaves a shorter last block. The next PATCH reads that block back from its
nodes (at most one block), and cuts again from where it began, so that the block list
is always full blocks and at most one short one at the end. Short blocks could stay in
the middle of a manifest (every reader takes each block's own size), but a client
sending tiny chunks would then make a manifest of tiny blocks, none shared with any
other copy of the bytes. Nothing is staged on the master's disk: a PATCH's blocks go to R
nodes and into the database as it arrives; one that ends on a block boundary is answered
before they are durable, and settles behind its answer (``app.master.settling``), so
that the next PATCH may reach another worker, another master on the same PostgreSQL, or
this one restarted, and find the upload where the database has it.

The file's SHA-256 runs along: the worker that took the previous PATCH keeps its hashlib
state. Another worker (or this one after a restart) has none, and reads the blocks back
to hash them once the last byte arrived: correct, and slower. A final upload (tus
concatenation) goes on from its first partial's running hash when this worker has it,
and reads back only the blocks of the others: partials cannot share one hash, since
they arrive side by side.

A file that fits in one block ends as that one blob (its hash is the file's), as every
other write stores it; a larger one as a manifest; an empty one as the empty blob.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import time
from typing import IO, Any

from app.errors import ServiceUnavailable
from app.http.bodies import BODY_CHUNK
from app.master.ingest import BlockIngest
from app.master.reader import BlockReader
from app.master.replication import drop_copies
from app.master.settling import SettlingPatches
from app.master.writes import FileWrites
from app.metadata.engine import batches
from app.metadata.records import Block, FileRecord, NodeRecord
from app.metadata.resumable import ResumableStore, ResumableUpload
from app.metadata.uploads import Upload
from app.primitives.lru import LRUCache
from app.primitives.offhub import SerialThread

# Uploads whose running hash a worker remembers (a few hundred bytes each).
HASH_STATES = 1024


class ResumableWrites:
    """Begins, extends, completes and discards resumable uploads (no user rules here:
    ``app.userfiles.resumable`` decides who may do what)."""

    def __init__(
        self, writes: FileWrites, reader: BlockReader, store: ResumableStore, *, ttl: float
    ) -> None:
        self.writes = writes
        self.reader = reader
        self.store = store
        self.catalogue = writes.upload_store.store
        self.block_size = writes.block_size
        self.ttl = ttl
        # upload id -> (offset it covers, hashlib state): this worker's running hashes.
        self._hashes: LRUCache[str, tuple[int, Any]] = LRUCache(HASH_STATES)
        self.settling = SettlingPatches(store)

    def begin(self, user_id: int, path: str, length: int, metadata: str) -> ResumableUpload:
        """Open an upload of ``length`` bytes for ``path``."""
        upload = self.store.create(user_id, path, length, metadata, self.block_size, self.ttl)
        self._hashes.put(upload.id, (0, hashlib.sha256()))
        return upload

    def concatenate(
        self, user_id: int, path: str, parts: list[ResumableUpload], metadata: str
    ) -> ResumableUpload:
        """Make finished partial uploads, in order, one upload of ``path`` with every
        byte received (``store_file`` then makes it a file)."""
        upload = self.store.concatenate(user_id, path, parts, metadata, self.ttl)
        first = self._hashes.get(parts[0].id)
        for part in parts:
            self._hashes.discard(part.id)
        if first is not None and first[0] == parts[0].length:
            self._hashes.put(upload.id, first)
        return upload

    def reserved_bytes(self, user_id: int) -> int:
        return self.store.reserved_bytes(user_id)

    def find(self, upload_id: str) -> ResumableUpload | None:
        """The upload as stored, once this worker's PATCH of it settling is durable."""
        self.settling.wait(upload_id)
        return self.store.get(upload_id)

    def find_for_append(
        self, upload_id: str, offset: int, most_ahead: int
    ) -> ResumableUpload | None:
        """The upload as a PATCH at ``offset`` finds it: as this worker answered its last
        PATCH while that one settles here; else as stored, after a moment's wait when
        ``offset`` is ahead by one PATCH (``most_ahead`` bytes) that another worker or
        master answered and is settling (``app.master.settling``)."""
        settling = self.settling.current(upload_id)
        if settling is None:
            return self.settling.stored_at(upload_id, offset, most_ahead)
        if settling.failed():  # its answer is taken back: the upload is as stored
            self.settling.forget(upload_id)
        elif settling.answered.offset == offset:
            return settling.answered
        else:  # a client out of step: it learns where the upload is once that is durable
            self.settling.wait(upload_id)
        return self.store.get(upload_id)

    def append(self, upload: ResumableUpload, stream: IO[bytes]) -> ResumableUpload:
        """Store what ``stream`` gives (up to its end, however early) after the upload's
        offset; return the upload moved on. Nothing is kept of a stream that raises.

        Received to a block boundary before the upload's end, the answer does not wait
        for the blocks to be durable (``app.master.settling``)."""
        first = stream.read(BODY_CHUNK)
        if not first:
            return upload
        settling = self.settling.current(upload.id)
        before = settling.stored if settling is not None and settling.answered is upload else None
        live = self._live()
        keep, tail = len(upload.blocks), b""
        if upload.blocks and upload.blocks[-1][1] < upload.block_size:
            # Only ever stored (a PATCH is answered ahead only on a block boundary).
            keep -= 1
            tail = self._read_block(*upload.blocks[-1], live)
        state = self._hashes.get(upload.id)
        running = state[1].copy() if state is not None and state[0] == upload.offset else None
        ingest = BlockIngest(
            self.writes.writer,
            self.writes.upload_store,
            self.writes.cluster,
            live,
            upload.block_size,
            self.ttl,
            public=False,
            file_hash=running,
            unhashed=len(tail),
        )
        received = len(first)
        try:
            ingest.write(tail)
            ingest.write(first)
            while chunk := stream.read(BODY_CHUNK):
                received += len(chunk)
                ingest.write(chunk)
            offset = upload.offset + received
            answered = dataclasses.replace(
                upload, offset=offset, blocks=upload.blocks[:keep] + tuple(ingest.hashed_blocks())
            )
            # One PATCH settling per upload: this answer waits for the one before.
            stored_before = before.result() if before is not None else upload
        except BaseException:
            ingest.abort()
            raise
        if running is not None:
            self._hashes.put(upload.id, (offset, ingest.file_hash))

        def make_durable() -> ResumableUpload:
            try:
                blocks = ingest.finish_blocks()
                moved = self.store.advance(
                    stored_before, keep, blocks, offset, self.ttl, also=ingest.hand_over
                )
            except BaseException:
                ingest.abort()
                raise
            ingest.close()
            if tail:
                self._release(upload.blocks[keep:], live)  # the short block, now in another
            return moved

        if offset < upload.length and offset % upload.block_size == 0:
            self.settling.defer(answered, make_durable)
            return answered
        return make_durable()

    def store_file(self, upload: ResumableUpload) -> FileRecord:
        """Make the complete upload's bytes a private file (not yet at any user's path)."""
        name = upload.path.rsplit("/", 1)[-1]
        if not upload.blocks:
            return self.writes.ingest_stream(io.BytesIO(b""), name, public=False)
        live = self._live()
        if len(upload.blocks) == 1:
            block_hash, size = upload.blocks[0]
            holders = self.catalogue.blob_copies([block_hash]).get(block_hash, ())
            return self.catalogue.register(
                FileRecord(block_hash, name, size, holders, public=False)
            )
        committed = Upload(
            upload.id,
            name,
            upload.length,
            self._file_hash(upload, live),
            upload.block_size,
            upload.expires_at,
            upload.blocks,
        )
        record = self.writes.upload_store.commit(committed, public=False)
        # The same content may have been stored before, cut otherwise: its manifest
        # stays, and these blocks, if nothing else has them, go now.
        self._release(upload.blocks, live)
        return record

    def complete(self, upload: ResumableUpload, file_hash: str) -> ResumableUpload:
        """Record that the file is at its path: HEAD answers it complete until it expires."""
        self._hashes.discard(upload.id)
        return self.store.complete(upload, file_hash, self.ttl)

    def discard(self, upload: ResumableUpload) -> None:
        """Forget the upload and delete its blocks that nothing else refers to."""
        self.settling.wait(upload.id)
        self._hashes.discard(upload.id)
        self.store.remove(upload.id)
        if upload.blocks:
            self._release(upload.blocks, self.writes.live_nodes())

    # ----- internals -----

    def _live(self) -> list[NodeRecord]:
        live = self.writes.live_nodes()
        if not live:
            raise ServiceUnavailable("no storage node is available", code="no_live_nodes")
        return live

    def _file_hash(self, upload: ResumableUpload, live: list[NodeRecord]) -> str:
        state = self._hashes.get(upload.id)
        if state is not None and state[0] == upload.length:
            return str(state[1].hexdigest())
        # No running hash here of every byte (another worker took the earlier bytes, a
        # restart, or the partials of a final upload after its first): the blocks not
        # covered read back from the nodes, each checked against its own hash.
        start, digest = (state[0], state[1].copy()) if state is not None else (0, hashlib.sha256())
        record = self._record(upload, live)
        hasher = SerialThread()
        try:
            for chunk in self.reader.iter_range(record, start, record.size):
                hasher.submit(digest.update, chunk)()
        finally:
            hasher.close()
        return digest.hexdigest()

    def _record(self, upload: ResumableUpload, live: list[NodeRecord]) -> FileRecord:
        """The upload's blocks as a file to read, every copy read with a signed URL."""
        copies = self.catalogue.blob_copies([h for h, _size in upload.blocks])
        live_ids = {node.id for node in live}
        blocks, offset = [], 0
        for block_hash, size in upload.blocks:
            held = tuple(n for n in copies.get(block_hash, ()) if n in live_ids)
            blocks.append(Block(block_hash, size, offset, held, held))
            offset += size
        return FileRecord("", "", offset, (), tuple(blocks), upload.block_size, public=False)

    def _read_block(self, block_hash: str, size: int, live: list[NodeRecord]) -> bytes:
        held = self.catalogue.blob_copies([block_hash]).get(block_hash, ())
        urls = {node.id: node.url for node in live}
        return self.reader.read_block(Block(block_hash, size, 0, held, held), urls)

    def _release(self, blocks: tuple[tuple[str, int], ...], live: list[NodeRecord]) -> None:
        """Delete, now, those of these blocks that nothing refers to any more."""
        cutoff = time.time()
        hashes = list(dict.fromkeys(h for h, _size in blocks))
        for chunk in batches(hashes):
            purged = self.catalogue.collect_garbage(cutoff, len(chunk), hashes=chunk)
            drop_copies(self.writes.writer.nodes, self.writes.cluster, purged, live)
