"""A new version of a large file of which only the changed blocks travel (``POST
/api/blocks``, then ``POST /api/delta``), as a sync client sends an edit.

The client cuts its file at the master's block size and asks which of its block hashes
the master would need (``missing``). A block counts as held only if it is a block of a
file the user keeps at that very path (its current content or one of its versions):
knowing a hash is no proof of holding its bytes, and the blocks of other users' files are
never offered. The client then sends the file's size, hash and block list with the bytes
of the blocks it was told to send (``put``). The master rebuilds the whole file in order,
the held blocks read back from the nodes (each checked against its hash), stores it as a
PUT stores it (a block the cluster holds is not written again) and commits it only if
the whole file hashes to what the client said, as a new version of the path.
"""

from __future__ import annotations

import contextlib
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Protocol, cast

from app.errors import BadRequest, Conflict, InvalidField, NotFound, PayloadTooLarge
from app.http.jsonbody import decode_object
from app.metadata.entries import Entry
from app.metadata.namespace import NamespaceStore
from app.metadata.records import FileRecord
from app.storage.digests import parse_digest
from app.userfiles.interface import User
from app.userfiles.paths import normalize_path
from app.userfiles.quota import check_length

# At most this many blocks in a plan (a 400 GiB file of 4 MiB blocks).
MAX_BLOCKS = 100_000
# The JSON line of a POST /api/delta (100,000 hashes are 6.7 MB).
MAX_PLAN_BYTES = 8 * 1024 * 1024


class DeltaContent(Protocol):
    """Where the bytes go, and come back from (``app.userfiles.wiring.MasterContent``)."""

    def store_checked(self, stream: IO[bytes], name: str, expected: str) -> FileRecord:
        """Store a stream privately, only if it hashes to ``expected`` (400 hash_mismatch)."""
        ...

    def find(self, file_hash: str) -> FileRecord | None: ...

    def read(self, record: FileRecord, start: int, stop: int) -> Iterator[bytes]: ...


@dataclass(frozen=True)
class DeltaPlan:
    """A file as the client has it: size, hash, block hashes, and the indexes of the
    blocks whose bytes follow in the body, in that order."""

    size: int
    hash: str
    blocks: tuple[str, ...]
    sent: tuple[int, ...]


def read_plan(body: IO[bytes]) -> DeltaPlan:
    """The JSON line that starts a ``POST /api/delta`` body: ``{"size", "hash",
    "blocks": [hash, ...], "sent": [index, ...]}``; 400 for anything else."""
    line = body.readline(MAX_PLAN_BYTES + 1)
    if not line.endswith(b"\n"):
        if len(line) > MAX_PLAN_BYTES:
            raise PayloadTooLarge(f"the plan's JSON line is at most {MAX_PLAN_BYTES} bytes")
        raise BadRequest("the body ended before the end of its JSON line", code="malformed_delta")
    payload = decode_object(line)
    size, blocks, sent = payload.get("size"), payload.get("blocks"), payload.get("sent")
    if not _is_count(size):
        raise InvalidField("size", "'size' must be a whole number of bytes")
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        raise InvalidField("blocks", f"'blocks' must list at most {MAX_BLOCKS} block hashes")
    if not isinstance(sent, list) or not all(_is_count(i) for i in sent):
        raise InvalidField("sent", "'sent' must list the indexes of the blocks sent")
    assert isinstance(size, int)
    return DeltaPlan(
        size,
        parse_digest(payload.get("hash")),
        tuple(parse_digest(b) for b in blocks),
        tuple(sorted(sent)),
    )


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# Where a held block's bytes are read from: its file's record, and its offset there.
Held = dict[str, tuple[FileRecord, int, int]]


class DeltaWrites:
    """``missing`` and ``put`` over the namespace and the master's content."""

    def __init__(self, namespace: NamespaceStore, content: DeltaContent, *, block_size: int):
        self._namespace = namespace
        self._content = content
        self.block_size = block_size

    def missing(self, user: User, path: str, size: object, blocks: object) -> list[int]:
        """The indexes of ``blocks`` (the hashes of a file of ``size`` bytes, cut at
        ``block_size``) whose bytes the client must send."""
        if not _is_count(size):
            raise InvalidField("size", "'size' must be a whole number of bytes")
        if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
            raise InvalidField("blocks", f"'blocks' must list at most {MAX_BLOCKS} block hashes")
        assert isinstance(size, int)
        wanted = self.check_blocks(size, [parse_digest(b) for b in blocks])
        held = self.held_blocks(user, normalize_path(path))
        return [i for i, (digest, length) in enumerate(wanted) if not is_held(held, digest, length)]

    def put(self, user: User, path: str, plan: DeltaPlan, body: IO[bytes]) -> Entry:
        """Store the file of ``plan`` at ``path`` from the blocks in ``body`` and those
        held; 409 blocks_missing (``missing``: indexes) when a block neither came nor is
        held, 400 hash_mismatch when the whole file does not hash to ``plan.hash``."""
        path = normalize_path(path)
        wanted = self.check_blocks(plan.size, list(plan.blocks))
        sent = set(plan.sent)
        if len(sent) != len(plan.sent) or any(not 0 <= i < len(wanted) for i in sent):
            raise BadRequest("'sent' lists each block's index once", code="invalid_field")
        held = self.held_blocks(user, path)
        lacking = [
            i
            for i, (digest, length) in enumerate(wanted)
            if i not in sent and not is_held(held, digest, length)
        ]
        if lacking:
            raise Conflict(
                f"{len(lacking)} block(s) were neither sent nor held: send them",
                code="blocks_missing",
                details={"missing": lacking},
            )
        if user.quota_bytes:
            # Counted as new bytes, as a PUT is: the commit counts what it really adds.
            check_length(plan.size, user.quota_bytes, self._namespace.used_bytes(user.id))
        # Cast: the ingest only ever calls read().
        whole = cast(IO[bytes], FileStream(self._block_sources(wanted, sent, held, body)))
        record = self._content.store_checked(whole, posixpath.basename(path), plan.hash)
        return self._namespace.put_file(user.id, path, record.hash, record.size, user.quota_bytes)

    def check_blocks(self, size: int, blocks: list[str]) -> list[tuple[str, int]]:
        """(hash, size) of each block; 400 unless they are the file's cut at block_size."""
        if size < 0:
            raise BadRequest("'size' must be a whole number of bytes", code="invalid_field")
        count = max(1, -(-size // self.block_size))
        if len(blocks) > MAX_BLOCKS:
            raise PayloadTooLarge(f"a file is at most {MAX_BLOCKS} blocks")
        if len(blocks) != count:
            raise BadRequest(
                f"{size} bytes are {count} blocks of {self.block_size} bytes, not {len(blocks)}",
                code="invalid_field",
                details={"block_size": self.block_size},
            )
        last = size - (count - 1) * self.block_size
        return [(b, self.block_size if i < count - 1 else last) for i, b in enumerate(blocks)]

    def held_blocks(self, user: User, path: str) -> Held:
        """The blocks of the files the user keeps at ``path`` (current, then versions)."""
        entries: list[Entry] = []
        current = self._namespace.get(user.id, path)
        if current is not None and not current.is_dir:
            entries.append(current)
        with contextlib.suppress(NotFound):  # no file was ever there
            entries += self._namespace.versions(user.id, path)
        held: Held = {}
        for digest in dict.fromkeys(e.hash for e in entries if e.hash is not None):
            record = self._content.find(digest)
            if record is None:
                continue
            if not record.blocks:
                held.setdefault(record.hash, (record, 0, record.size))
            for block in record.blocks:
                held.setdefault(block.hash, (record, block.offset, block.size))
        return held

    def _block_sources(
        self, wanted: list[tuple[str, int]], sent: set[int], held: Held, body: IO[bytes]
    ) -> Iterator[bytes]:
        """The file's bytes in order: sent blocks from ``body``, held ones read back."""
        for index, (digest, length) in enumerate(wanted):
            if index in sent:
                yield from _read_exactly(body, length)
            else:
                record, offset, _size = held[digest]
                yield from self._content.read(record, offset, offset + length)
        if body.read(1):
            raise BadRequest("the body is longer than its blocks", code="malformed_delta")


def is_held(held: Held, digest: str, length: int) -> bool:
    return digest in held and held[digest][2] == length


def _read_exactly(body: IO[bytes], length: int) -> Iterator[bytes]:
    left = length
    while left:
        chunk = body.read(min(left, 1024 * 1024))
        if not chunk:
            raise BadRequest("the body ended before its last block", code="malformed_delta")
        left -= len(chunk)
        yield chunk


class FileStream:
    """A read-only stream over an iterator of chunks (what the ingest reads)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._chunk = b""
        self._at = 0

    def read(self, size: int = -1) -> bytes:
        while self._at >= len(self._chunk):
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._chunk, self._at = chunk, 0
        end = len(self._chunk) if size < 0 else min(len(self._chunk), self._at + size)
        if self._at == 0 and end == len(self._chunk):
            piece = self._chunk
        else:
            with memoryview(self._chunk) as view:
                piece = bytes(view[self._at : end])
        self._at = end
        return piece
