"""Resumable uploads of a user's files: who may extend which upload, and by how much.

The quota is checked twice with the one rule of ``app.userfiles.quota``: the upload's
whole length at creation, beside the lengths of the user's other open uploads (nothing
is sent that cannot fit, and uploads begun together cannot overbook it), and again as
the file is put at its path (``NamespaceStore.put_file``), since the user may have
stored more meanwhile. A file refused then is not kept: its upload ends with the error.

Concatenation (tus): partial uploads have a length and no path, and are never put
anywhere; a final upload names them in order and becomes the file at once. Every
partial but the last is a whole number of blocks, so that the partials' blocks, laid
end to end, are the blocks of the file, as one upload would have cut them.
"""

from __future__ import annotations

import contextlib
from typing import IO, cast

from app.errors import AppError, BadRequest, Conflict, PayloadTooLarge, UploadNotFound
from app.metadata.namespace import NamespaceStore
from app.metadata.resumable import ResumableUpload
from app.userfiles.interface import User
from app.userfiles.paths import InvalidPath, normalize_path
from app.userfiles.quota import check_announced
from app.userfiles.resumable_interface import ResumableContent

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
        self,
        namespace: NamespaceStore,
        content: ResumableContent,
        *,
        chunk_bytes: int,
        block_bytes: int,
    ) -> None:
        self._namespace = namespace
        self._content = content
        self._chunk_bytes = chunk_bytes
        self._block_bytes = block_bytes

    @property
    def chunk_bytes(self) -> int:
        return self._chunk_bytes

    @property
    def block_bytes(self) -> int:
        return self._block_bytes

    def create(self, user: User, path: str, length: int, metadata: str = "") -> ResumableUpload:
        path = self._file_path(user, path)
        self._check_room(user, _checked_length(length))
        upload = self._content.begin(user.id, path, length, metadata)
        if length == 0:
            return self._finish(user, upload)
        return upload

    def create_partial(self, user: User, length: int, metadata: str = "") -> ResumableUpload:
        self._check_room(user, _checked_length(length))
        return self._content.begin(user.id, "", length, metadata)

    def concatenate(
        self, user: User, path: str, upload_ids: list[str], metadata: str = ""
    ) -> ResumableUpload:
        path = self._file_path(user, path)
        if not upload_ids:
            raise BadRequest("a final upload names its partial uploads", code="invalid_concat")
        if len(set(upload_ids)) != len(upload_ids):
            raise BadRequest("a final upload names each partial once", code="invalid_concat")
        parts = [self._own(user, upload_id) for upload_id in upload_ids]
        for index, part in enumerate(parts):
            if not part.is_partial:
                raise BadRequest(f"{part.id} is not a partial upload", code="not_partial")
            if part.offset != part.length:
                raise BadRequest(
                    f"the partial upload {part.id} has {part.offset} of its {part.length} "
                    "bytes: finish it first",
                    code="partial_unfinished",
                )
            if index < len(parts) - 1 and part.length % part.block_size:
                raise BadRequest(
                    f"every partial upload but the last is a multiple of {part.block_size} "
                    f"bytes (the block size); {part.id} has {part.length}",
                    code="partial_unaligned",
                )
        length = sum(part.length for part in parts)
        # The partials' room passes to the file they make.
        self._check_room(user, length, held_by_parts=length)
        return self._finish(user, self._content.concatenate(user.id, path, parts, metadata))

    def status(self, user: User, upload_id: str) -> ResumableUpload:
        upload = self._own(user, upload_id)
        if upload.offset == upload.length and not upload.is_complete and not upload.is_partial:
            # Every byte is stored but the file is not at its path yet (its last PATCH
            # failed after storing): finish it, rather than tell a client it is done.
            return self._finish(user, upload)
        return upload

    def append(
        self, user: User, upload_id: str, offset: int, stream: IO[bytes], length: int | None
    ) -> ResumableUpload:
        upload = self._own(user, upload_id, appending_at=offset)
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
        if upload.offset == upload.length and not upload.is_partial:  # now, or before (a retry)
            return self._finish(user, upload)
        return upload

    def terminate(self, user: User, upload_id: str) -> None:
        self._content.discard(self._own(user, upload_id))

    def _file_path(self, user: User, path: str) -> str:
        """The upload's path, normalized; refused before a byte is sent if it is a folder,
        as put_file would refuse it at the end."""
        path = normalize_path(path)
        if path == "/":
            raise InvalidPath("the root folder cannot be a file")
        current = self._namespace.get(user.id, path)
        if current is not None and current.is_dir:
            raise Conflict(f"{path} is a folder", code="is_a_directory")
        return path

    def _check_room(self, user: User, length: int, held_by_parts: int = 0) -> None:
        if user.quota_bytes:
            used = self._namespace.used_bytes(user.id)
            held = self._content.reserved_bytes(user.id) - held_by_parts
            check_announced(length, user.quota_bytes, used, held)

    def _own(self, user: User, upload_id: str, appending_at: int | None = None) -> ResumableUpload:
        """The user's upload; ``appending_at``: as a PATCH at that offset finds it (which
        may be ahead of what is stored yet: ``ResumableContent.find_for_append``)."""
        if appending_at is None:
            upload = self._content.find(upload_id)
        else:
            upload = self._content.find_for_append(upload_id, appending_at, self._chunk_bytes)
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


def _checked_length(length: int) -> int:
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise BadRequest("an upload's length is a number of bytes", code="invalid_length")
    if length > MAX_UPLOAD_LENGTH:
        raise PayloadTooLarge(
            f"an upload is at most {MAX_UPLOAD_LENGTH} bytes", code="upload_too_large"
        )
    return length
