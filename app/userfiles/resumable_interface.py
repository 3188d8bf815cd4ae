"""What the tus front end (``/api/tus/``) calls, and where resumable uploads keep their
bytes: the two sides of ``app.userfiles.resumable``, apart from ``interface.py``'s
``UserFiles`` as they change with the protocol, not with the rest of a user's files."""

from __future__ import annotations

from typing import IO, Protocol

from app.metadata.records import FileRecord
from app.metadata.resumable import ResumableUpload  # an upload's progress, as stored
from app.userfiles.interface import User


class ResumableUploads(Protocol):
    """Uploads of a user's file in pieces, resumed after a broken connection (the tus
    front end, ``/api/tus/``): begun with their length, extended at their offset, the
    file put at its path when the last byte arrived. Another user's upload, and one
    unknown or expired, are 404 upload_not_found alike."""

    @property
    def chunk_bytes(self) -> int:
        """The most one ``append`` may carry."""
        ...

    @property
    def block_bytes(self) -> int:
        """The block size: every partial upload of a final one but the last is a
        multiple of it."""
        ...

    def create(self, user: User, path: str, length: int, metadata: str = "") -> ResumableUpload:
        """Open an upload of ``length`` bytes for ``path`` (``metadata``: kept for the
        client, as sent); 507 quota_exceeded if they cannot fit, 409 is_a_directory for
        a folder. An empty file is put at its path at once."""
        ...

    def create_partial(self, user: User, length: int, metadata: str = "") -> ResumableUpload:
        """Open a partial upload of ``length`` bytes (tus concatenation): no path, and
        never a file by itself; 507 quota_exceeded as ``create``."""
        ...

    def concatenate(
        self, user: User, path: str, upload_ids: list[str], metadata: str = ""
    ) -> ResumableUpload:
        """Put the finished partial uploads ``upload_ids``, in order, at ``path`` as one
        file (400 if one is unfinished, not partial, or not a whole number of blocks
        but the last; 404 if one is unknown or another user's)."""
        ...

    def status(self, user: User, upload_id: str) -> ResumableUpload:
        """Where the upload stands."""
        ...

    def append(
        self, user: User, upload_id: str, offset: int, stream: IO[bytes], length: int | None
    ) -> ResumableUpload:
        """Store the bytes of ``stream`` (``length`` if told) at ``offset``, which must
        be the upload's (409 offset_mismatch); 413 chunk_too_large past ``chunk_bytes``,
        413 upload_length_exceeded past the upload's length, and then nothing is kept.
        A stream that ends early keeps what came. At the last byte the file is put at
        its path (a version of what was there) before this returns."""
        ...

    def terminate(self, user: User, upload_id: str) -> None:
        """End the upload, its blocks deleted (those nothing else refers to)."""
        ...


class ResumableContent(Protocol):
    """Where resumable uploads keep their bytes (``app.master.resumable``)."""

    def begin(self, user_id: int, path: str, length: int, metadata: str) -> ResumableUpload: ...

    def concatenate(
        self, user_id: int, path: str, parts: list[ResumableUpload], metadata: str
    ) -> ResumableUpload: ...

    def reserved_bytes(self, user_id: int) -> int: ...

    def find(self, upload_id: str) -> ResumableUpload | None:
        """The upload as stored (durable)."""

    def find_for_append(
        self, upload_id: str, offset: int, most_ahead: int
    ) -> ResumableUpload | None:
        """The upload as a PATCH at ``offset`` finds it: maybe ahead of what is stored,
        by a PATCH answered before its blocks are durable."""

    def append(self, upload: ResumableUpload, stream: IO[bytes]) -> ResumableUpload: ...

    def store_file(self, upload: ResumableUpload) -> FileRecord: ...

    def complete(self, upload: ResumableUpload, file_hash: str) -> ResumableUpload: ...

    def discard(self, upload: ResumableUpload) -> None: ...
