"""Resumable uploads of a user's files: who may extend which upload, and by how much.

The quota is checked twice with the one rule of ``app.userfiles.quota``: the upload's
whole length at creation (nothing is sent that cannot fit), and again as the file is
put at its path (``NamespaceStore.put_file``), since the user may have stored more
meanwhile. A file refused then is not kept: its upload ends with the error.
"""

from __future__ import annotations

import contextlib
from typing import IO, cast

from app.errors import AppError, BadRequest, Conflict, PayloadTooLarge, UploadNotFound
from app.metadata.namespace import NamespaceStore
from app.metadata.resumable import ResumableUpload
from app.userfiles.interface import ResumableContent, User
from app.userfiles.paths import InvalidPath, normalize_path
from app.userfiles.quota import check_length

# The largest upload one may announce: a manifest of 2^18 blocks of 4 MiB.
MAX_UPLOAD_LENGTH = 1 << 40


class BoundedBody:
    """Reads through to ``stream``; raises ``refusal`` as soon as more than ``most``
    bytes have arrived, before handing them on (so that none of them is kept)."""

    def __init__(self, stream: IO[bytes], most: int, refusal: AppError) -> None:
        self._stream = stream
        self._most = most
        self._refusal = refusal
        self._received = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._received += len(chunk)
        if self._received > self._most:
            raise self._refusal
        return chunk


class ResumableUploadService:
    """``ResumableUploads`` over the namespace and a ``ResumableContent``."""

    def __init__(
        self, namespace: NamespaceStore, content: ResumableContent, *, chunk_bytes: int
    ) -> None:
        self._namespace = namespace
        self._content = content
        self._chunk_bytes = chunk_bytes

    @property
    def chunk_bytes(self) -> int:
        return self._chunk_bytes

    def create(self, user: User, path: str, length: int, metadata: str = "") -> ResumableUpload:
        path = normalize_path(path)
        if path == "/":
            raise InvalidPath("the root folder cannot be a file")
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise BadRequest("an upload's length is a number of bytes", code="invalid_length")
        if length > MAX_UPLOAD_LENGTH:
            raise PayloadTooLarge(
                f"an upload is at most {MAX_UPLOAD_LENGTH} bytes", code="upload_too_large"
            )
        current = self._namespace.get(user.id, path)
        if current is not None and current.is_dir:
            # As put_file would refuse it at the end: before a byte is sent.
            raise Conflict(f"{path} is a folder", code="is_a_directory")
        if user.quota_bytes:
            check_length(length, user.quota_bytes, self._namespace.used_bytes(user.id))
        upload = self._content.begin(user.id, path, length, metadata)
        if length == 0:
            return self._finish(user, upload)
        return upload

    def status(self, user: User, upload_id: str) -> ResumableUpload:
        upload = self._own(user, upload_id)
        if upload.offset == upload.length and not upload.is_complete:
            # Every byte is stored but the file is not at its path yet (its last PATCH
            # failed after storing): finish it, rather than tell a client it is done.
            return self._finish(user, upload)
        return upload

    def append(
        self, user: User, upload_id: str, offset: int, stream: IO[bytes], length: int | None
    ) -> ResumableUpload:
        upload = self._own(user, upload_id)
        if offset != upload.offset or upload.is_complete:
            raise Conflict(
                f"the upload is at offset {upload.offset}, not {offset} "
                "(HEAD tells where to resume)",
                code="offset_mismatch",
            )
        too_large = PayloadTooLarge(
            f"a PATCH carries at most {self._chunk_bytes} bytes", code="chunk_too_large"
        )
        left = upload.length - upload.offset
        too_long = PayloadTooLarge(
            f"the upload has {left} bytes left to send of its {upload.length}",
            code="upload_length_exceeded",
        )
        if length is not None and length > self._chunk_bytes:
            raise too_large
        if length is not None and length > left:
            raise too_long
        # Cast: the content store only ever calls read().
        within_chunk = cast(IO[bytes], BoundedBody(stream, self._chunk_bytes, too_large))
        bounded = cast(IO[bytes], BoundedBody(within_chunk, left, too_long))
        upload = self._content.append(upload, bounded)
        if upload.offset == upload.length:  # now, or already before (a retry)
            return self._finish(user, upload)
        return upload

    def terminate(self, user: User, upload_id: str) -> None:
        self._content.discard(self._own(user, upload_id))

    def _own(self, user: User, upload_id: str) -> ResumableUpload:
        upload = self._content.find(upload_id)
        if upload is None or upload.user_id != user.id:
            # Another user's upload is not told apart from one that does not exist.
            raise UploadNotFound(f"no upload in progress with id {upload_id}")
        return upload

    def _finish(self, user: User, upload: ResumableUpload) -> ResumableUpload:
        """Put the file at its path (the answer waits for it).

        Refused (the quota, a folder there now), the upload ends: its bytes are not
        kept. Failed otherwise (no node to read from), it stays complete in bytes, and
        the next HEAD or PATCH tries again.
        """
        try:
            record = self._content.store_file(upload)
            self._namespace.put_file(
                user.id, upload.path, record.hash, record.size, user.quota_bytes
            )
        except AppError as exc:
            if exc.status < 500:
                with contextlib.suppress(Exception):  # the refusal is the answer
                    self._content.discard(upload)
            raise
        return self._content.complete(upload, record.hash)
