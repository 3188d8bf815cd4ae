"""Content-addressed blob storage (no Flask)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from app.storage.blobstore import (
    DIGEST_RE,
    FileBlobStore,
    FileBlobWriter,
    SealedBlob,
    StoredBlob,
    parse_digest,
)


class BlobWriter(Protocol):
    size: int

    def write(self, chunk: bytes) -> None: ...

    def abort(self) -> None: ...


class BlobStore(Protocol):
    """What a node needs of a blob engine; FileBlobStore is the one on disk."""

    def open_writer(self, max_size: int | None = None) -> FileBlobWriter: ...

    def commit(self, writer: FileBlobWriter, expected_digest: str | None = None) -> StoredBlob: ...

    def exists(self, digest: str) -> bool: ...

    def locate(self, digest: str) -> Path: ...


__all__ = [
    "DIGEST_RE",
    "BlobStore",
    "BlobWriter",
    "FileBlobStore",
    "FileBlobWriter",
    "SealedBlob",
    "StoredBlob",
    "parse_digest",
]
