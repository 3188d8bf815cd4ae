"""A small tmpfs mounted by the test (as root) for a node's data directory: a disk that
really fills up. Skips the test only when mounting is impossible (not root, EPERM)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(path: Path, size: str = "8m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``path`` for the block; unmount it after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        if "permission denied" in mounted.stderr.lower() or "not permitted" in mounted.stderr:
            pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
        raise AssertionError(f"mount failed: {mounted.stderr}")
    try:
        yield path
    finally:
        # Lazy: a process still holding a file there (a failed test's node) cannot stop it.
        subprocess.run(["umount", "-l", str(path)], check=True)


def fill(path: Path, leave: int) -> Path:
    """Fill the filesystem of ``path`` until ``leave`` bytes are free; return the file."""
    filler = path / "filler"
    stat = os.statvfs(path)
    with filler.open("wb") as out:
        out.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
    return filler
