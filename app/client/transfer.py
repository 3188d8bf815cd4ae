"""How a file's bytes travel between this machine and the nodes (no Flask).

Hashing a local file and its blocks, sending the blocks the cluster lacks ``parallel`` at
a time, fetching blocks or a whole blob checked against their hashes, and the files that
make a download appear only when complete. Which blocks go where, and which replicas to
read, is the master's answer (``app.client.api.Client`` asks); this module talks to the
nodes only, through the caller's ``requests.Session``.
"""

from __future__ import annotations

import collections
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar

import requests
from urllib3.fields import RequestField
from urllib3.filepost import choose_boundary

from app.client.errors import ClientError, NoReplica
from app.errors import error_code_of

# (connect, read) seconds; a blob of 10 MiB on a slow replica still fits.
TIMEOUT = (3.05, 60.0)
# A replica with another behind it gets this long for each read: a healthy node starts
# sending a blob within milliseconds, so one silent for 2 s is left for the next replica
# (the last one tried gets TIMEOUT).
FALLBACK_TIMEOUT = (3.05, 2.0)
CHUNK = 1024 * 1024
# The master's default block size, and how many blocks travel at once.
BLOCK_SIZE = 4 * 1024 * 1024
PARALLEL = 4
Timeout = tuple[float, float]


T = TypeVar("T")


@dataclass
class Replicas:
    """The order in which one download tries the replicas of its blobs: those that failed
    or were slow on an earlier blob go last, so that a slow node costs one
    FALLBACK_TIMEOUT per download, not one per block (the master's reader does the same)."""

    failed: set[str] = field(default_factory=set)

    def read(self, what: str, urls: Sequence[str], read: Callable[[str, Timeout], T]) -> T:
        """``read(url, timeout)`` from each replica in turn until one succeeds; NoReplica
        (naming every failure) if none does."""
        ordered = sorted(urls, key=lambda url: url in self.failed)
        problems = []
        for tried, url in enumerate(ordered, start=1):
            try:
                return read(url, TIMEOUT if tried == len(ordered) else FALLBACK_TIMEOUT)
            except (requests.RequestException, ClientError) as exc:
                self.failed.add(url)  # a set's add is atomic: the pool's threads share it
                problems.append(f"{url}: {exc}")
        raise NoReplica(f"no replica could serve {what}: " + ("; ".join(problems) or "none is up"))


class Progress(Protocol):
    """Where transfers report bytes; a ``tqdm`` bar fits as it is."""

    def update(self, n: int) -> object: ...

    def reset(self, total: int | None = None) -> object: ...


@dataclass(frozen=True)
class BlockPlan:
    """A local file cut into blocks: its size, SHA-256, and each block's SHA-256."""

    size: int
    hash: str
    blocks: list[str]


def hash_blocks(path: Path, block_size: int) -> BlockPlan:
    """Hash a file and each of its blocks in one read.

    The whole file's hash runs on a thread of its own beside the blocks' (hashlib lets
    go of the GIL): two cores hash a large file in the time of one pass, not two."""
    whole = hashlib.sha256()
    blocks: list[str] = []
    size = 0
    with path.open("rb") as stream, ThreadPoolExecutor(max_workers=1) as pool:
        hashing: Future[None] | None = None
        while True:
            block = stream.read(block_size)
            if not block and blocks:
                break
            if hashing is not None:
                hashing.result()  # in order, and at most two blocks in memory
            hashing = pool.submit(whole.update, block)
            blocks.append(hashlib.sha256(block).hexdigest())
            size += len(block)
            if len(block) < block_size:
                break
        if hashing is not None:
            hashing.result()
    return BlockPlan(size, whole.hexdigest(), blocks)


def file_digest(path: Path) -> str:
    """Return the SHA-256 of a local file, the address the cluster stores it under."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (it may write fewer than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def send_blocks(
    http: requests.Session,
    path: Path,
    missing: list[dict[str, Any]],
    block_size: int,
    parallel: int,
    progress: Progress | None,
    on_sent: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> list[int]:
    """PUT each missing block of ``path`` to its node; return the sizes of those sent.

    ``missing`` is the master's answer: each block's ``url``, ``size`` and the
    ``indexes`` where it occurs in the file. Failures are left for the caller's next
    round; a block the node refuses as ``hash_mismatch`` means the file changed and
    raises ``ClientError``. ``on_sent(block, node's answer)`` is called, from the
    sending thread, for each block stored.
    """
    sent: list[int] = []
    with path.open("rb") as stream, ThreadPoolExecutor(max_workers=parallel) as pool:
        fd = stream.fileno()

        def send(block: dict[str, Any]) -> None:
            data = os.pread(fd, block["size"], block["indexes"][0] * block_size)
            try:
                response = http.put(block["url"], data=data, timeout=TIMEOUT)
            except requests.RequestException:
                return
            if response.status_code == 400 and error_code_of(response) == "hash_mismatch":
                # The node checks every block against the hash announced for it.
                raise ClientError(f"{path} changed while it was being uploaded")
            if response.status_code == 200:
                if on_sent is not None:
                    on_sent(block, response.json())
                sent.append(len(data))
                if progress is not None:
                    progress.update(len(data) * len(block["indexes"]))

        futures = [pool.submit(send, block) for block in missing]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return sent


def fetch_blocks(
    http: requests.Session,
    blocks: Sequence[dict[str, Any]],
    fd: int,
    parallel: int,
    progress: Progress | None,
    replicas: Replicas | None = None,
) -> str:
    """Fetch blocks ``parallel`` at a time, write them in order; return the file's hash.

    Each block (the master's block map: ``hash``, ``urls``, a secured cluster's
    ``token``) is read from the first replica (in ``replicas``' order) that sends the
    right bytes, else ``NoReplica``. At most two blocks per worker wait in memory for
    their turn.
    """
    order = Replicas() if replicas is None else replicas

    def fetch(block: dict[str, Any]) -> bytes:
        # A secured cluster signs each block's reads (the block map's token).
        params = {"hash": block["hash"], **({"token": block["token"]} if "token" in block else {})}

        def read(url: str, timeout: Timeout) -> bytes:
            data = b"".join(_stream(http, f"{url}/retrieve", params, timeout))
            if hashlib.sha256(data).hexdigest() != block["hash"]:
                raise ClientError(f"bytes do not match block {block['hash']}")
            return data

        return order.read(f"block {block['hash']}", block["urls"], read)

    whole = hashlib.sha256()
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        pending: collections.deque[Future[bytes]] = collections.deque()
        try:
            for block in [*blocks, None]:
                if block is not None:
                    pending.append(pool.submit(fetch, block))
                while pending and (block is None or len(pending) > 2 * parallel):
                    data = pending.popleft().result()
                    whole.update(data)
                    write_all(fd, data)
                    if progress is not None:
                        progress.update(len(data))
        finally:
            for future in pending:
                future.cancel()
    return whole.hexdigest()


def fetch_blob(
    http: requests.Session,
    urls: Sequence[str],
    digest: str,
    dest: Path,
    progress: Progress | None,
    replicas: Replicas | None = None,
) -> None:
    """Stream a blob into ``dest`` from the first of its replicas (the nodes at ``urls``)
    that sends the right bytes; NoReplica (and ``dest`` left alone) if none does."""

    def read(url: str, timeout: Timeout) -> None:
        with PartFile(dest) as part:
            hasher = hashlib.sha256()
            try:
                for chunk in _stream(http, f"{url}/retrieve", {"hash": digest}, timeout):
                    hasher.update(chunk)
                    write_all(part.fd, chunk)
                    if progress is not None:
                        progress.update(len(chunk))
                if hasher.hexdigest() != digest:
                    raise ClientError("bytes do not match the hash")
            except (requests.RequestException, ClientError):
                if progress is not None:
                    progress.reset()
                raise
            part.keep()

    (Replicas() if replicas is None else replicas).read(digest, urls, read)


def _stream(
    http: requests.Session, url: str, params: dict[str, str], timeout: Timeout
) -> Iterator[bytes]:
    with http.get(url, params=params, timeout=timeout, stream=True) as response:
        if response.status_code != 200:
            raise ClientError(f"{url} answered {response.status_code}", response.status_code)
        yield from response.iter_content(CHUNK)


class PartFile:
    """A hidden temp file beside ``dest`` that becomes ``dest`` only if kept."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        self.path = Path(name)

    def __enter__(self) -> PartFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        os.close(self.fd)
        self.path.unlink(missing_ok=True)

    def keep(self) -> None:
        os.replace(self.path, self.dest)


def read_span(
    stream: BinaryIO, path: Path, offset: int, length: int, progress: Progress | None
) -> Iterator[bytes]:
    """``length`` bytes of the open file from ``offset``, in chunks as a request body sends
    them, counted on ``progress``; ClientError if the file is shorter than that now."""
    stream.seek(offset)
    left = length
    while left > 0:
        data = stream.read(min(CHUNK, left))
        if not data:
            raise ClientError(f"{path} shrank while it was being sent")
        left -= len(data)
        if progress is not None:
            progress.update(len(data))
        yield data


class FileBody:
    """``length`` bytes of a local file from ``offset``, read as they are sent.

    requests sends an iterable with a length as a plain (not chunked) body, so the master
    sees a Content-Length and can refuse what does not fit before reading it.
    """

    def __init__(self, path: Path, offset: int, length: int, progress: Progress | None) -> None:
        self.path = path
        self.offset = offset
        self.length = length
        self.progress = progress

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        with self.path.open("rb") as stream:
            yield from read_span(stream, self.path, self.offset, self.length, self.progress)


class MultipartFile:
    """A multipart/form-data body of one file part, read from disk as it is sent.

    requests sends an iterable with a length as a plain (not chunked) body, so the master
    sees a Content-Length and can refuse an oversized file before reading it.
    """

    def __init__(self, path: Path, name: str, progress: Progress | None) -> None:
        self.path = path
        self.size = path.stat().st_size
        self.progress = progress
        boundary = choose_boundary()
        self.content_type = f"multipart/form-data; boundary={boundary}"
        part = RequestField(name="file", data=b"", filename=name)
        part.make_multipart(content_type="application/octet-stream")
        self.head = f"--{boundary}\r\n".encode() + part.render_headers().encode()
        self.tail = f"\r\n--{boundary}--\r\n".encode()

    def __len__(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        with self.path.open("rb") as stream:
            yield from read_span(stream, self.path, 0, self.size, self.progress)
        yield self.tail
