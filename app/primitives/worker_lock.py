"""Elect one gunicorn worker per machine for a background job: an flock on a file.

The kernel drops the lock when the holder dies, so a replacement worker can take over
without any cleanup.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class WorkerLock:
    """A non-blocking exclusive flock, held until released or the process exits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        """Take the lock if no other process holds it; tell whether this one does."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
