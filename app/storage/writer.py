"""A blob on its way in: the temp file that hashes what is written to it, the sealed
result waiting for its batch's sync, and what storing it gave.

A writer enforces the upload's size cap as bytes arrive and turns a full disk into a
507; a large upload asks the kernel to start writing back what it has received so far,
so that the batch's sync finds little left to do.
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from app.errors import InsufficientStorage, PayloadTooLarge
from app.primitives.offhub import off_hub
from app.storage.durability import SYNC_FILE_RANGE, SYNC_FILE_RANGE_WRITE

DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
# A large upload asks the disk to start writing what it has received every this many
# bytes, so that the disk works while the rest arrives and the final sync finds little
# left to do (RocksDB's bytes_per_sync).
WRITEBACK_EVERY = 8 << 20
# Chunks at least this large are hashed and written off the hub (a 4 KiB form's are not:
# the trip to the pool would cost more than the write).
WRITE_OFF_HUB = 256 * 1024


def disk_full(exc: OSError) -> InsufficientStorage:
    """The 507 of a write the disk refused for want of space."""
    return InsufficientStorage(f"no space left on the storage device ({exc.strerror})")


@dataclass(frozen=True)
class StoredBlob:
    digest: str
    size: int
    created: bool


@dataclass(frozen=True)
class SealedBlob:
    """A finished, hashed upload waiting to be made durable and moved into place: the
    temp file at ``path``, or ``data`` received whole (``path`` is then a temp name no
    file has yet)."""

    path: Path
    digest: str
    size: int
    data: bytes | None = None


def check_size(size: int, max_size: int | None) -> None:
    """PayloadTooLarge once an upload's bytes pass its cap (for every kind of writer)."""
    if max_size is not None and size > max_size:
        raise PayloadTooLarge(f"upload exceeds the limit of {max_size} bytes")


class MemoryBlobWriter:
    """The bytes of a small upload received whole, kept in memory under the same cap as a
    file writer's: ``FileBlobStore.seal_bytes(writer.data())`` hashes them, and the
    batch writes them under their sealed name (no temp file, no rename)."""

    def __init__(self, max_size: int | None) -> None:
        self.size = 0
        self._chunks: list[bytes] = []
        self._max_size = max_size

    def write(self, chunk: bytes) -> None:
        check_size(self.size + len(chunk), self._max_size)
        self._chunks.append(chunk)
        self.size += len(chunk)

    def data(self) -> bytes:
        return self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)

    def abort(self) -> None:
        self._chunks.clear()


class FileBlobWriter:
    """A temp file that hashes what is written to it; commit it with FileBlobStore.commit."""

    def __init__(self, path: Path, fd: int, max_size: int | None) -> None:
        self.path = path
        self.size = 0
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self._max_size = max_size
        self._written_back = 0  # bytes whose writeback has been started

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; raise PayloadTooLarge past the size cap, 507 on a full disk.

        A large chunk is hashed and written on the thread pool: a ``write`` that waits
        for the filesystem's journal (a sync of another file, another process's) would
        stop every greenlet of the worker, and the hash runs beside them (hashlib lets
        go of the GIL), as the other uploads go on receiving (bench/PROFILE-21.md)."""
        check_size(self.size + len(chunk), self._max_size)
        try:
            if len(chunk) >= WRITE_OFF_HUB:
                off_hub(self._append, chunk)
            else:
                self._append(chunk)
            self.size += len(chunk)
            if self.size - self._written_back >= WRITEBACK_EVERY:
                self._start_writeback()
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                raise disk_full(exc) from exc
            raise

    def _append(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self._file.write(chunk)

    def _start_writeback(self) -> None:
        if SYNC_FILE_RANGE is None:
            return
        self._file.flush()
        start, self._written_back = self._written_back, self.size
        # Only a head start (its result does not matter: the batch's sync makes the
        # bytes durable), on the thread pool: the call waits when the disk's queue is full.
        off_hub(
            SYNC_FILE_RANGE, self._file.fileno(), start, self.size - start, SYNC_FILE_RANGE_WRITE
        )

    def finish(self) -> str:
        """Flush and close the temp file; return the digest of what was written."""
        try:
            self._file.flush()
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                raise disk_full(exc) from exc
            raise
        finally:
            self._file.close()
        return self._hash.hexdigest()

    def abort(self) -> None:
        """Drop the temp file; safe to call more than once."""
        self._file.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> FileBlobWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
