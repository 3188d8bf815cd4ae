"""The disk's own limits, measured beside the cluster: dd with fdatasync, and a plain
Python loop creating small files durably."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

from bench.load import MIB, Load


def dd_seconds(source: Path, target: Path) -> float:
    """Copy ``source`` to ``target`` with ``dd conv=fdatasync``; return the seconds."""
    started = time.perf_counter()
    subprocess.run(
        ["dd", f"if={source}", f"of={target}", "bs=4M", "conv=fdatasync", "status=none"],
        check=True,
        timeout=600,
    )
    return time.perf_counter() - started


def random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path``, durably; return their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MIB))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
        out.flush()
        # Written back now, so that no later measurement pays for this file's writeback.
        os.fsync(out.fileno())
    return digest.hexdigest()


def fsync_loop(directory: Path, size: int, seconds: float, max_files: int) -> Load:
    """The durable small-file limit: one thread creating files (create temp, write, fsync,
    rename) for ``seconds`` or ``max_files``."""
    directory.mkdir(parents=True, exist_ok=True)
    latencies = []
    started = time.monotonic()
    deadline = started + seconds
    n = 0
    while time.monotonic() < deadline and n < max_files:
        began = time.perf_counter()
        body = os.urandom(size)
        temp = directory / f".tmp-{n}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, directory / f"f{n}")
        latencies.append(time.perf_counter() - began)
        n += 1
    return Load(n, time.monotonic() - started, latencies, 0, [])
