"""Thumbnails kept on the master's disk by content hash and size, bounded in bytes.

``<root>/<hh>/<hash>-<size>.<ext>``: the same content under two names, or of two users,
is one thumbnail. A file is written whole or not at all (a temporary file in the same
folder, then a rename), so a reader never sees half a thumbnail. Nothing is fsynced: a
thumbnail lost in a crash is made again.

Eviction is LRU-ish: a hit touches the file's mtime, and when the files pass
``max_bytes`` the least recently touched go until they fill at most ``LOW_WATER`` of it.
Each worker keeps its own running total, recounted from the disk at every eviction, so
that several workers (or masters on one disk) never drift far from the bound.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from pathlib import Path

# Evict down to this share of the bound: one eviction pass then makes room for many puts.
LOW_WATER = 0.8
_NAME = re.compile(r"[0-9a-f]{64}-\d+\.[a-z]+")


class ThumbnailCache:
    """Thumbnails on disk under ``root``, at most about ``max_bytes`` of them (0: none kept)."""

    def __init__(self, root: Path, max_bytes: int, extension: str) -> None:
        self._root = root
        self._max_bytes = max_bytes
        self._extension = extension
        self._total: int | None = None  # counted on first use

    def path_for(self, file_hash: str, size: int) -> Path:
        return self._root / file_hash[:2] / f"{file_hash}-{size}.{self._extension}"

    def get(self, file_hash: str, size: int) -> bytes | None:
        """The thumbnail if kept (and mark it used), else None."""
        path = self.path_for(file_hash, size)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        with contextlib.suppress(FileNotFoundError):  # evicted meanwhile: still served
            os.utime(path)
        return data

    def put(self, file_hash: str, size: int, data: bytes) -> None:
        """Keep a thumbnail (atomically), then evict the oldest if the bound is passed."""
        if self._max_bytes == 0 or len(data) > self._max_bytes:
            return
        path = self.path_for(file_hash, size)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        # No lock: two puts racing only misjudge the total until the next recount, and
        # two evictions racing delete a file once (the second finds it gone).
        if self._total is None:
            self._total = self.stored_bytes()
        else:
            self._total += len(data)
        if self._total > self._max_bytes:
            self._total = self._evict()

    def stored_bytes(self) -> int:
        """The bytes of every thumbnail on disk now."""
        return sum(size for _, size, _ in self._files())

    def _files(self) -> list[tuple[float, int, Path]]:
        """(last use, bytes, path) of every kept thumbnail; temporary files are left alone."""
        found = []
        for path in self._root.glob("??/*"):
            if not _NAME.fullmatch(path.name):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:  # evicted by another worker meanwhile
                continue
            found.append((stat.st_mtime, stat.st_size, path))
        return found

    def _evict(self) -> int:
        """Delete the least recently used thumbnails down to LOW_WATER; the bytes left."""
        files = sorted(self._files())
        total = sum(size for _, size, _ in files)
        target = int(self._max_bytes * LOW_WATER)
        for _, size, path in files:
            if total <= target:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            total -= size
        return total
