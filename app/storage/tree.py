"""Blobs in place: where each one lives under the two-level fan-out (ab/cd/<digest>),
whether it is there, its bytes re-hashed, and its removal.

Blobs whose bytes rot are moved aside into ``quarantine/`` (never served again, kept
for a post-mortem) rather than deleted; ``verify`` re-hashes a blob for the scrubber.
Writing blobs into the tree is ``FileBlobStore``'s (``app.storage.blobstore``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from app.errors import BlobNotFound
from app.primitives.lru import LRUCache
from app.primitives.offhub import native_rlock
from app.storage.digests import DIGEST_RE, checked_digest
from app.storage.durability import fsync_dir
from app.storage.space import FreeSpace

log = logging.getLogger(__name__)

VERIFY_CHUNK = 1 << 20


class BlobTree:
    """The blob files under ``root``: reads, checks and removals; thread-safe."""

    def __init__(self, root: Path, *, cache_size: int = 65_536, fsync: bool = True) -> None:
        self.root = root
        self.blob_dir = root / "blobs"
        self.quarantine_dir = root / "quarantine"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self._blob_prefix = f"{self.blob_dir}/"
        self.space = FreeSpace(root)
        self._fsync = fsync
        # Positive existence cache, filled by ``exists`` (blobs are immutable, so "exists"
        # stays true until deleted). Not by writes: no write trusts it (see
        # ``FileBlobStore._move_into_place``), and filled by each upload it held up to
        # ``cache_size`` digests per worker that nothing asked about, 13 MB of a node
        # worker's memory.
        self._known: LRUCache[str, bool] = LRUCache(cache_size)
        # Held by pool threads and greenlets alike, never across a yield (module docstring
        # of app.primitives.offhub: ``native_rlock``).
        self._lock = native_rlock()

    def path_for(self, digest: str) -> Path:
        """Return where the blob ``digest`` lives (whether or not it exists)."""
        return Path(self.file_name(digest))

    def file_name(self, digest: str) -> str:
        """``path_for`` as a string, for the hot read path (a Path costs more than the open)."""
        return f"{self._blob_prefix}{digest[:2]}/{digest[2:4]}/{digest}"

    def free_bytes(self) -> int:
        """Return the bytes available to this process on the blob filesystem."""
        return self.space.now()

    def exists(self, digest: str) -> bool:
        """Tell whether the blob is stored."""
        if self._known.get(digest):
            return True
        if self.on_disk(digest):
            self._known.put(digest, True)
            return True
        return False

    def on_disk(self, digest: str) -> bool:
        """Tell whether the blob's file is there, asking the disk, not the cache (which
        forgets it when it is not: it was deleted behind the store's back)."""
        if self.path_for(digest).is_file():
            return True
        self._known.discard(digest)
        return False

    def locate(self, digest: str) -> Path:
        """Return the path of a stored blob; raise BlobNotFound when it is not stored."""
        if not self.on_disk(digest):
            raise BlobNotFound(f"no blob {digest} on this node")
        return self.path_for(digest)

    def iter_blobs(self) -> Iterator[tuple[str, int]]:
        """Yield (digest, size) of every stored blob, in no particular order."""
        for dirpath, _dirnames, filenames in os.walk(self.blob_dir):
            for name in filenames:
                if DIGEST_RE.fullmatch(name):
                    try:
                        size = os.stat(os.path.join(dirpath, name)).st_size
                    except FileNotFoundError:
                        continue
                    yield name, size

    def verify(
        self,
        digest: str,
        chunk_size: int = VERIFY_CHUNK,
        throttle: Callable[[int], None] | None = None,
    ) -> bool | None:
        """Re-hash a stored blob; True if its bytes match ``digest``, None if it is gone.

        Streams through one open fd, so a concurrent ``os.replace`` of the path does not
        mix two files' bytes. ``throttle(bytes_read)`` runs after every chunk; whatever it
        raises propagates (the scrubber stops a pass that way).
        """
        try:
            fd = os.open(self.path_for(digest), os.O_RDONLY)
        except FileNotFoundError:
            self._known.discard(digest)
            return None
        hasher = hashlib.sha256()
        buffer = bytearray(chunk_size)
        view = memoryview(buffer)
        with os.fdopen(fd, "rb", buffering=0) as blob:
            while read := blob.readinto(buffer):
                hasher.update(view[:read])
                if throttle is not None:
                    throttle(read)
        return hasher.hexdigest() == digest

    def delete(self, digest: str) -> bool:
        """Remove a blob; True if it existed. Idempotent; raise InvalidHash on a bad digest."""
        path = self.path_for(checked_digest(digest))
        with self._lock:
            self._known.discard(digest)
            try:
                path.unlink()
            except FileNotFoundError:
                return False
        if self._fsync:  # off the hub: not under the lock
            fsync_dir(path.parent)
        return True

    def quarantine(self, digest: str) -> Path | None:
        """Move a blob out of the blob tree; return where it went, None if it was gone.

        The rename is atomic and stays on one filesystem (``root/quarantine``), so readers
        either still hold the old fd or get BlobNotFound: never a partial file. Callers
        verify first; this moves whatever bytes are at the path.
        """
        path = self.path_for(checked_digest(digest))
        self._ensure_quarantine_dir()  # its sync yields: not under the lock
        with self._lock:
            self._known.discard(digest)
            if not path.is_file():
                return None
            target = self._quarantine_name(digest)
            try:
                os.rename(path, target)
            except FileNotFoundError:
                return None  # a sibling worker deleted or quarantined it first
        if self._fsync:  # off the hub: not under the lock
            fsync_dir(self.quarantine_dir)
            fsync_dir(path.parent)
        log.warning("quarantined blob %s to %s", digest, target)
        return target

    def _ensure_quarantine_dir(self) -> None:
        if self.quarantine_dir.is_dir():
            return
        self.quarantine_dir.mkdir(exist_ok=True)
        if self._fsync:
            fsync_dir(self.root)

    def _quarantine_name(self, digest: str) -> Path:
        # The same blob may rot, be repaired and rot again within a second: never
        # overwrite an earlier specimen.
        stem = f"{digest}.{int(time.time())}"
        target = self.quarantine_dir / stem
        serial = 0
        while target.exists():
            serial += 1
            target = self.quarantine_dir / f"{stem}.{serial}"
        return target
