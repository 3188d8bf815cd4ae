"""What makes bytes and names durable on this machine, and what the filesystem promises.

The blob store asks: does a rename survive a crash whole here (a journal), is there a
``syncfs`` to flush one filesystem at once, a ``sync_file_range`` to start writeback
early; and it syncs files and directories through these helpers. The probes run once,
at import or at the store's start, not per write.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from pathlib import Path

from app.primitives.offhub import off_hub


def renames_survive_crashes(
    path: Path, mountinfo: Path = Path("/proc/self/mountinfo"), sysfs: Path = Path("/sys")
) -> bool:
    """Whether the filesystem holding ``path`` keeps a rename whole across a crash.

    Journaled and copy-on-write filesystems do. ext2, and ext3 or ext4 made or mounted
    without a journal, write the two directory blocks of a rename independently. Only
    those are reported (from ``mountinfo`` and ext4's ``journal_task`` in ``sysfs``);
    anything that cannot be read is trusted.
    """
    device = os.stat(path).st_dev
    number = f"{os.major(device)}:{os.minor(device)}"
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return True
    fstype = next(
        (
            fields[fields.index("-") + 1]
            for fields in (line.split() for line in lines)
            if len(fields) > 2 and fields[2] == number and "-" in fields
        ),
        None,
    )
    if fstype == "ext2":
        return False
    if fstype not in ("ext3", "ext4"):
        return True
    try:
        name = (sysfs / "dev" / "block" / number).resolve(strict=True).name
        journal = (sysfs / "fs" / "ext4" / name / "journal_task").read_text().strip()
    except OSError:
        return True
    return journal != "<none>"


def fsync_path(path: Path | str, data_only: bool = False) -> None:
    """fsync (or fdatasync) the file or directory at ``path``."""
    fd = os.open(path, os.O_RDONLY)
    try:
        (os.fdatasync if data_only else os.fsync)(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """fsync a directory off the gevent hub (a sync may wait on the disk's queue)."""
    off_hub(fsync_path, path)


def _find_syncfs() -> Callable[[int], int] | None:
    """Return libc's ``syncfs``: it flushes one filesystem's dirty data and metadata."""
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    syncfs.argtypes = [ctypes.c_int]
    syncfs.restype = ctypes.c_int
    return syncfs


SYNCFS = _find_syncfs()


def sync_filesystem(syncfs: Callable[[int], int], root: Path) -> None:
    """Run ``syncfs`` on the filesystem holding ``root``; raise OSError if it fails."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))
    finally:
        os.close(fd)


def _find_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Return libc's ``sync_file_range``: it starts the writeback of a file's range."""
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


SYNC_FILE_RANGE = _find_sync_file_range()
SYNC_FILE_RANGE_WRITE = 2
