"""What the node asks of a blob engine: the calls it really makes, as Protocols.

``FileBlobStore`` (``app.storage.blobstore``) is the implementation on disk; another
(an in-memory store for tests, say) implements the same two Protocols. Conveniences of
the file store that no role calls (``commit``, ``exists``, ``path_for``) are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from app.storage.writer import SealedBlob, StoredBlob


class BlobWriter(Protocol):
    """A blob being received: written chunk by chunk, then sealed by its store or aborted."""

    path: Path
    size: int

    def write(self, chunk: bytes) -> None: ...

    def finish(self) -> str: ...

    def abort(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class BlobStore(Protocol):
    """Content-addressed blobs: written in batches made durable together, read in place,
    checked by the scrubber, and recovered after a crash."""

    root: Path

    # ----- writes -----

    def open_writer(
        self, max_size: int | None = None, expected_size: int | None = None
    ) -> BlobWriter: ...

    def seal(self, writer: BlobWriter, expected_digest: str | None = None) -> SealedBlob: ...

    def seal_bytes(self, data: bytes, expected_digest: str | None = None) -> SealedBlob: ...

    def persist(self, sealed: Sequence[SealedBlob]) -> list[StoredBlob]: ...

    # ----- reads -----

    def on_disk(self, digest: str) -> bool: ...

    def locate(self, digest: str) -> Path: ...

    def file_name(self, digest: str) -> str: ...

    def free_bytes(self) -> int: ...

    def iter_blobs(self) -> Iterator[tuple[str, int]]: ...

    # ----- checks, removals and recovery -----

    def verify(
        self, digest: str, chunk_size: int = ..., throttle: Callable[[int], None] | None = None
    ) -> bool | None: ...

    def delete(self, digest: str) -> bool: ...

    def quarantine(self, digest: str) -> Path | None: ...

    def recover_sealed(self, older_than: float = 0.0) -> int: ...

    def clean_temp(self, older_than: float) -> int: ...
