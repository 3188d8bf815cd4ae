"""Whether a blob's file was checked against its hash since it last changed.

A node sends blobs from disk with sendfile, unchecked, so a copy that rotted (a byte
flipped, a file truncated or rewritten) would be sent as it is until the scrub came by.
Instead each file is hashed the first time it is read, and again only once its identity
(inode, size, modification and change times) differs from the one checked: a rewrite or
truncation of the file changes them, while repeated reads of a sound blob cost one fstat.
Rot that leaves the file's times alone (the medium's own) is the scrub's to find.
"""

from __future__ import annotations

import contextlib
import hashlib
import os

from app.primitives.lru import LRUCache
from app.primitives.offhub import off_hub

CHUNK = 1 << 20

Identity = tuple[int, int, int, int]


def identity(fd: int) -> Identity:
    return _identity_of(os.fstat(fd))


def path_identity(path: str | os.PathLike[str]) -> Identity:
    return _identity_of(os.stat(path))


def _identity_of(stat: os.stat_result) -> Identity:
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def hash_fd(fd: int) -> str:
    """SHA-256 of the file open at ``fd``, read with pread (its offset is left alone)."""
    hasher = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, CHUNK, offset):
        hasher.update(chunk)
        offset += len(chunk)
    return hasher.hexdigest()


class ReadCheck:
    """Remembers, per blob, the file identity last found to hash to its name."""

    def __init__(self, capacity: int = 65_536) -> None:
        self._checked: LRUCache[str, Identity] = LRUCache(max(capacity, 1))

    def is_sound(self, digest: str, fd: int) -> bool:
        """Tell whether the file open at ``fd`` holds the bytes named ``digest``."""
        current = identity(fd)
        if self._checked.get(digest) == current:
            return True
        if off_hub(hash_fd, fd) != digest:
            self._checked.discard(digest)
            return False
        self._checked.put(digest, current)
        return True

    def note_written(self, digest: str, path: str | os.PathLike[str]) -> None:
        """Take the file just written at ``path`` from bytes hashed to ``digest`` on
        their way in as checked (as of its identity now, after its move into place).

        Hashing it again at its first read would read it back from the page cache, not
        the disk, and so find nothing the write's own hash did not: it would only cost
        the first reader (a ``mdbx get`` just after its put: 0.3 s of 200 MiB).
        """
        self._checked.put(digest, path_identity(path))

    def note_relinked(self, digest: str, before: Identity, path: str | os.PathLike[str]) -> None:
        """The file at ``path`` lost another name (its ctime moved): still checked if it
        was, as ``before``, when the name went (``app.storage.blobstore`` keeps a sealed
        name beside a blob linked into place until the next sync)."""
        if self._checked.get(digest) == before:
            with contextlib.suppress(FileNotFoundError):
                self._checked.put(digest, path_identity(path))

    def forget(self, digest: str) -> None:
        self._checked.discard(digest)
