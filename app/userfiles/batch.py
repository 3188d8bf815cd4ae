"""Many small files in one request (``POST /api/batch``): each stored with R copies as
a small ``PUT /api/files`` stores it (same names, quota and versions), but all of them
at once, and their entries written in one transaction.

A file is answered as stored only once it is durable on R nodes and its entry is
committed; one that cannot be (a bad name, too large, over the quota, a folder in the
way) is answered its error, and the others go on.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from app.errors import AppError, PayloadTooLarge
from app.metadata.entries import ROOT, Entry
from app.metadata.namespace import NamespaceStore
from app.metadata.records import FileRecord
from app.metadata.usage import quota_exceeded
from app.userfiles.interface import User
from app.userfiles.paths import normalize_path

# Per request: files, and bytes of the whole body.
MAX_BATCH_FILES = 1_000
MAX_BATCH_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class BatchFile:
    """A file as sent: its path relative to the batch's folder, and its bytes (None: it
    was larger than a block, and dropped as it arrived)."""

    path: str
    data: bytes | None


@dataclass(frozen=True)
class BatchResult:
    """What became of one file: its entry, or the error that kept it out."""

    path: str
    entry: Entry | None = None
    error: AppError | None = None


class SmallContent(Protocol):
    """Where a batch's bytes go (``app.master.writes``)."""

    def store_small(self, items: Sequence[tuple[bytes, str]]) -> list[FileRecord | AppError]:
        """Store each (bytes, name) privately with R copies; its record or its error."""
        ...


class TooLarge(PayloadTooLarge):
    code = "too_large"


class BatchWrites:
    """``put_many`` over the namespace and the master's content."""

    def __init__(self, namespace: NamespaceStore, content: SmallContent, *, max_file: int):
        self._namespace = namespace
        self._content = content
        self.max_file = max_file

    def put_many(
        self, user: User, folder: str | None, files: Sequence[BatchFile]
    ) -> list[BatchResult]:
        """Store every file under ``folder`` (folders made as needed); a result per file,
        in the order sent. 413 for more than MAX_BATCH_FILES."""
        if len(files) > MAX_BATCH_FILES:
            raise PayloadTooLarge(f"a batch holds at most {MAX_BATCH_FILES} files")
        base = normalize_path(folder or ROOT, "dir")
        results: list[BatchResult | None] = [None] * len(files)
        wanted: list[tuple[int, str, bytes]] = []
        used = self._namespace.used_bytes(user.id) if user.quota_bytes else 0
        for index, sent in enumerate(files):
            path = sent.path  # as sent, until it is known to be a path
            try:
                path = normalize_path(posixpath.join(base, sent.path.lstrip("/")))
                if sent.data is None:
                    raise TooLarge(f"{path} is larger than {self.max_file} bytes: PUT it alone")
                # Counted as new bytes, as a PUT's Content-Length is: whether they repeat
                # content the user keeps is known once hashed (the commit counts exactly).
                if user.quota_bytes and used + len(sent.data) > user.quota_bytes:
                    raise quota_exceeded(len(sent.data), user.quota_bytes, used)
            except AppError as exc:
                results[index] = BatchResult(path, error=exc)
                continue
            used += len(sent.data)
            wanted.append((index, path, sent.data))
        stored = self._content.store_small(
            [(data, posixpath.basename(path)) for _, path, data in wanted]
        )
        entries: list[tuple[int, str, str, int]] = []
        for (index, path, _data), record in zip(wanted, stored, strict=True):
            if isinstance(record, AppError):
                results[index] = BatchResult(path, error=record)
            else:
                entries.append((index, path, record.hash, record.size))
        put = self._namespace.put_files(
            user.id, [(path, digest, size) for _, path, digest, size in entries], user.quota_bytes
        )
        for (index, path, _digest, _size), outcome in zip(entries, put, strict=True):
            if isinstance(outcome, AppError):
                results[index] = BatchResult(path, error=outcome)
            else:
                results[index] = BatchResult(path, entry=outcome)
        return [result for result in results if result is not None]
