"""The free space of a node's data filesystem, asked once per small upload.

Every upload checks that it leaves the free-space reserve. ``statvfs`` ran on the hub
for each one, and a profile of 4 KiB multipart uploads (bench/PROFILE-22.md) found it
at 18 % of the hub's time: it waits behind the ``syncfs`` of the batch before. A recent
reading, less what was admitted since, is as good an answer for a yes; a no is given
only on a fresh reading, so no upload is refused on a stale figure. A full disk is
still caught where it happens: the write's ENOSPC is a 507 (``FileBlobStore.persist``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

# A reading this old (seconds) is read again: at 3,000 uploads/s, one statvfs per 300.
MAX_AGE = 0.1


class FreeSpace:
    """The free bytes under ``root`` for this process; thread-safe (a stale reading at
    worst, under the GIL)."""

    def __init__(
        self, root: Path, *, max_age: float = MAX_AGE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.root = root
        self.max_age = max_age
        self._clock = clock
        self._free = 0
        self._read_at = float("-inf")

    def now(self) -> int:
        """The free bytes, read now."""
        stats = os.statvfs(self.root)
        self._free = stats.f_bavail * stats.f_frsize
        self._read_at = self._clock()
        return self._free

    def admits(self, size: int, reserve: int = 0) -> bool:
        """Whether ``size`` bytes fit and leave ``reserve`` free; counted as taken from the
        reading when they do."""
        needed = size + reserve
        if needed <= 0:
            return True
        if self._clock() - self._read_at > self.max_age or self._free < needed:
            self.now()
        if self._free < needed:
            return False
        self._free -= size
        return True
