"""A user's large file read straight from the nodes (issue #21), block by block.

The master's block map (``GET /api/blockmap/PATH``) names each block's hash, offset and
size and signed URLs of its copies. Blocks are read ``parallel`` at a time, each checked
against its SHA-256 and written at its offset into the file being made, so they may
arrive in any order. Each thread keeps one ``http.client`` connection per node and reads
a block with ``readinto`` into its own buffer: no chunks joined, no copy but the kernel's.
hashlib lets go of the GIL on large buffers, so the threads hash in parallel too.

A block that no node sends right (down, slow, expired URL, wrong bytes) is read through
the master instead, a ``Range`` of its stream, and checked the same way.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from app.client.errors import ClientError
from app.client.transfer import PartFile, Progress

# Seconds a node may take to connect or to send the next bytes of a block. A block with
# another copy behind it gets the shorter one: a healthy node answers in milliseconds.
TIMEOUT = 60.0
FALLBACK_TIMEOUT = 5.0
FADVISE = getattr(os, "POSIX_FADV_DONTNEED", None)  # None: not on this system


def write_blocks(
    block_map: dict[str, Any],
    dest: Path,
    parallel: int,
    progress: Progress | None,
    read_range: Callable[[int, int], bytes],
) -> None:
    """Make ``dest`` from the blocks of ``block_map`` (``GET /api/blockmap``'s answer),
    durable before it appears; a block no node sends is ``read_range(start, stop)``
    (the master's stream). ClientError when that fails too or the map does not fit."""
    blocks, size = block_map["blocks"], block_map["size"]
    if not is_tiling(blocks, size):
        raise ClientError("the master's block map does not cover the file")
    with PartFile(dest) as part:
        # Sized first: the threads write their blocks wherever they fall.
        os.ftruncate(part.fd, size)
        for block in read_blocks(blocks, part.fd, parallel, progress):
            data = read_range(block["offset"], block["offset"] + block["size"])
            if hashlib.sha256(data).hexdigest() != block["hash"]:
                raise ClientError(f"block {block['hash']} could not be read, or the file changed")
            write_at(part.fd, data, block["offset"])
            if progress is not None:
                progress.update(len(data))
        os.fsync(part.fd)
        part.keep()


def is_tiling(blocks: Sequence[dict[str, Any]], size: int) -> bool:
    """Whether the blocks cover ``[0, size)`` exactly, in order: a map to write by."""
    offset = 0
    for block in blocks:
        if block["offset"] != offset or block["size"] <= 0:
            return False
        offset += block["size"]
    return offset == size


def read_blocks(
    blocks: Sequence[dict[str, Any]],
    fd: int,
    parallel: int,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Write each block at its offset in ``fd`` from the first of its URLs that sends
    its bytes; return the blocks that none did, in order."""
    reader = _Reader(fd, progress)
    pool = ThreadPoolExecutor(max_workers=max(1, parallel))
    try:
        futures = [pool.submit(reader.read, block) for block in blocks]
        done = [future.result() for future in futures]
    finally:
        # On Ctrl+C (or a full disk) the blocks not begun are dropped, not read.
        pool.shutdown(cancel_futures=True)
        reader.close()
    return [block for block, ok in zip(blocks, done, strict=True) if not ok]


def write_at(fd: int, data: memoryview | bytes, offset: int) -> None:
    """os.pwrite until every byte is written (it may write fewer than asked)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


class _Reader:
    """The state the threads of one download share: the file, the nodes that failed,
    and every connection opened (each used by the one thread that opened it)."""

    def __init__(self, fd: int, progress: Progress | None) -> None:
        self.fd = fd
        self.progress = progress
        self.local = threading.local()
        self.lock = threading.Lock()
        self.failed: set[str] = set()
        self.opened: list[http.client.HTTPConnection] = []

    def read(self, block: dict[str, Any]) -> bool:
        size = block["size"]
        view = self._buffer(size)
        # Nodes that failed an earlier block go last: a dead node costs one timeout
        # per thread, not one per block.
        urls = sorted(block["urls"], key=lambda url: urlsplit(url).netloc in self.failed)
        for tried, url in enumerate(urls, start=1):
            parts = urlsplit(url)
            timeout = TIMEOUT if tried == len(urls) else FALLBACK_TIMEOUT
            try:
                with self._connection(parts.scheme, parts.netloc, timeout) as connection:
                    sent = _read_into(connection, f"{parts.path}?{parts.query}", view)
                if not sent or hashlib.sha256(view).hexdigest() != block["hash"]:
                    raise _Refused
            except (OSError, http.client.HTTPException, _Refused):
                self.failed.add(parts.netloc)  # a set's add is atomic
                continue
            write_at(self.fd, view, block["offset"])
            if FADVISE is not None:
                # Linux writes a range's dirty pages back, without waiting, before it
                # drops the clean ones: the disk works while the next blocks arrive, and
                # the one fsync at the end finds little left (0.1 s less for 200 MiB).
                os.posix_fadvise(self.fd, block["offset"], size, FADVISE)
            if self.progress is not None:
                with self.lock:  # a tqdm bar is not meant for several threads at once
                    self.progress.update(size)
            return True
        return False

    def _buffer(self, size: int) -> memoryview:
        buffer: bytearray | None = getattr(self.local, "buffer", None)
        if buffer is None or len(buffer) < size:
            buffer = self.local.buffer = bytearray(size)
        return memoryview(buffer)[:size]

    @contextmanager
    def _connection(
        self, scheme: str, netloc: str, timeout: float
    ) -> Iterator[http.client.HTTPConnection]:
        """This thread's connection to ``netloc``, dropped if a read through it fails."""
        pool: dict[str, http.client.HTTPConnection] = self.local.__dict__.setdefault("pool", {})
        connection = pool.get(netloc)
        if connection is None:
            kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            connection = pool[netloc] = kind(netloc, timeout=timeout)
            with self.lock:
                self.opened.append(connection)
        connection.timeout = timeout
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        try:
            yield connection
        except BaseException:
            connection.close()
            del pool[netloc]
            raise

    def close(self) -> None:
        for connection in self.opened:
            connection.close()


class _Refused(Exception):
    """A node answered, but not with this block's bytes."""


def _read_into(connection: http.client.HTTPConnection, target: str, view: memoryview) -> bool:
    """GET ``target`` into ``view``; False (the connection still usable) if the node
    answers anything but exactly that many bytes."""
    connection.request("GET", target)
    response = connection.getresponse()
    if response.status != 200 or response.length != len(view):
        if response.length is not None and response.length <= 65_536:
            response.read()  # an error's small body: the connection is kept
            return False
        raise _Refused
    got = 0
    while got < len(view):
        count = response.readinto(view[got:])
        if not count:
            raise http.client.IncompleteRead(b"", len(view) - got)
        got += count
    return True
