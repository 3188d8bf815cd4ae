"""Resumable uploads of users' files (tus): what arrived so far, in the master's database.

Each one is an ``uploads`` row under the same id, whose ``upload_blocks`` are the blocks
received so far, in order: garbage collection keeps them while it is open, and the
catalogue's expiry (``UploadStore.expire``) releases them once it is abandoned. Beside
it, a ``resumable_uploads`` row holds what the protocol needs (owner, path, length,
offset). Every change of the offset is a compare-and-set in one transaction, so that two
PATCHes of one upload, on two workers or two masters, cannot both land.

A partial upload (tus concatenation) is one with no path: its bytes wait to become part
of a final upload, which takes over the partials' blocks, in order, in one transaction.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, func, select, update

from app.errors import Conflict, UploadNotFound
from app.metadata.catalogue_schema import blobs
from app.metadata.engine import batches, write_transaction
from app.metadata.upload_schema import resumable_uploads, upload_blocks, uploads
from app.metadata.uploads import block_list


@dataclass(frozen=True)
class ResumableUpload:
    """An upload in progress (or just completed: ``file_hash`` set) and its blocks."""

    id: str
    user_id: int
    path: str
    length: int
    offset: int
    metadata: str
    block_size: int
    expires_at: float
    blocks: tuple[tuple[str, int], ...] = ()
    file_hash: str | None = None

    @property
    def is_complete(self) -> bool:
        return self.file_hash is not None

    @property
    def is_partial(self) -> bool:
        """A part of a later final upload (tus concatenation): it has no path of its own."""
        return not self.path


class ResumableStore:
    """The rows of resumable uploads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self, user_id: int, path: str, length: int, metadata: str, block_size: int, ttl: float
    ) -> ResumableUpload:
        """Record a new upload with nothing received; forget those long expired."""
        now = time.time()
        # 128 bits from the OS's CSPRNG: the id is the upload's URL, not guessable.
        upload_id = secrets.token_hex(16)
        upload = ResumableUpload(
            upload_id, user_id, path, length, 0, metadata, block_size, now + ttl
        )
        with write_transaction(self.engine) as conn:
            conn.execute(delete(resumable_uploads).where(resumable_uploads.c.expires_at < now))
            _insert(conn, upload, now)
        return upload

    def concatenate(
        self, user_id: int, path: str, parts: list[ResumableUpload], metadata: str, ttl: float
    ) -> ResumableUpload:
        """Record a final upload of ``parts`` (finished partial uploads, in order) for
        ``path``: their blocks become its blocks, every byte received; the partials are
        gone. 409 offset_mismatch if one of them moved or went meanwhile."""
        now = time.time()
        upload_id = secrets.token_hex(16)
        length = sum(part.length for part in parts)
        blocks = [block for part in parts for block in part.blocks]
        block_size = parts[0].block_size
        upload = ResumableUpload(
            upload_id,
            user_id,
            path,
            length,
            length,
            metadata,
            block_size,
            now + ttl,
            tuple(blocks),
        )
        with write_transaction(self.engine) as conn:
            for part in parts:
                gone = conn.execute(
                    delete(resumable_uploads).where(
                        resumable_uploads.c.id == part.id,
                        resumable_uploads.c.received == part.length,
                        resumable_uploads.c.file_hash.is_(None),
                    )
                ).rowcount
                if not gone:
                    raise Conflict(
                        f"the partial upload {part.id} changed meanwhile",
                        code="offset_mismatch",
                    )
                conn.execute(delete(uploads).where(uploads.c.id == part.id))
            _insert(conn, upload, now)
        return upload

    def reserved_bytes(self, user_id: int) -> int:
        """The lengths of the user's open uploads (partial ones too): bytes announced
        that the quota does not count yet."""
        with self.engine.connect() as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(resumable_uploads.c.length), 0)).where(
                    resumable_uploads.c.user_id == user_id,
                    resumable_uploads.c.file_hash.is_(None),
                    resumable_uploads.c.expires_at >= time.time(),
                )
            ).scalar_one()
        return int(total)

    def get(self, upload_id: str) -> ResumableUpload | None:
        """The upload with its blocks; None if unknown or expired."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(resumable_uploads, uploads.c.block_size)
                .outerjoin(uploads, uploads.c.id == resumable_uploads.c.id)
                .where(resumable_uploads.c.id == upload_id)
            ).first()
            if row is None or row.expires_at < time.time():
                return None
            if row.file_hash is None and row.block_size is None:
                return None  # its blocks expired with the catalogue's upload
            blocks = block_list(conn, upload_id)
        return ResumableUpload(
            row.id,
            row.user_id,
            row.path,
            row.length,
            row.received,
            row.metadata,
            row.block_size or 0,
            row.expires_at,
            blocks,
            row.file_hash,
        )

    def advance(
        self,
        upload: ResumableUpload,
        keep: int,
        blocks: list[tuple[str, int]],
        offset: int,
        ttl: float,
        *,
        also: Callable[[Connection], None] | None = None,
    ) -> ResumableUpload:
        """Move the upload from ``upload.offset`` to ``offset``: its first ``keep`` blocks
        stay, ``blocks`` follow them; its expiry starts again. ``also`` runs in the same
        transaction (the ingest's ``hand_over``: a PATCH's bookkeeping is one commit).

        409 offset_mismatch if another request moved it meanwhile, 404 if it is gone.
        """
        now = time.time()
        with write_transaction(self.engine) as conn:
            moved = conn.execute(
                update(resumable_uploads)
                .where(
                    resumable_uploads.c.id == upload.id,
                    resumable_uploads.c.received == upload.offset,
                    resumable_uploads.c.file_hash.is_(None),
                    resumable_uploads.c.expires_at >= now,
                )
                .values(received=offset, expires_at=now + ttl)
            ).rowcount
            if not moved:
                _refuse_move(conn, upload, now)
            open_ = conn.execute(
                update(uploads)
                .where(uploads.c.id == upload.id)
                .values(expires_at=now + ttl, block_count=keep + len(blocks))
            ).rowcount
            if not open_:
                raise UploadNotFound(f"no upload in progress with id {upload.id}")
            conn.execute(
                delete(upload_blocks).where(
                    upload_blocks.c.upload_id == upload.id, upload_blocks.c.seq >= keep
                )
            )
            if blocks:
                conn.execute(
                    upload_blocks.insert(),
                    [
                        {"upload_id": upload.id, "seq": keep + i, "hash": h, "size": s}
                        for i, (h, s) in enumerate(blocks)
                    ],
                )
            for chunk in batches(list(dict.fromkeys(h for h, _size in blocks))):
                conn.execute(update(blobs).where(blobs.c.hash.in_(chunk)).values(referenced_at=now))
            if also is not None:
                also(conn)
        all_blocks = upload.blocks[:keep] + tuple(blocks)
        return ResumableUpload(
            upload.id,
            upload.user_id,
            upload.path,
            upload.length,
            offset,
            upload.metadata,
            upload.block_size,
            now + ttl,
            all_blocks,
        )

    def complete(self, upload: ResumableUpload, file_hash: str, ttl: float) -> ResumableUpload:
        """Record that the upload's file is at its path (HEAD says so until it expires)."""
        expires_at = time.time() + ttl
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(resumable_uploads)
                .where(resumable_uploads.c.id == upload.id)
                .values(file_hash=file_hash, received=upload.length, expires_at=expires_at)
            )
            # Its blocks are the file's now (or were copied into it): the upload is done.
            conn.execute(delete(uploads).where(uploads.c.id == upload.id))
        return ResumableUpload(
            upload.id,
            upload.user_id,
            upload.path,
            upload.length,
            upload.length,
            upload.metadata,
            upload.block_size,
            expires_at,
            (),
            file_hash,
        )

    def remove(self, upload_id: str) -> None:
        """Forget the upload; its blocks lose the reference it held on them."""
        with write_transaction(self.engine) as conn:
            conn.execute(delete(resumable_uploads).where(resumable_uploads.c.id == upload_id))
            conn.execute(delete(uploads).where(uploads.c.id == upload_id))


def _refuse_move(conn: Connection, upload: ResumableUpload, now: float) -> None:
    row = conn.execute(
        select(resumable_uploads.c.received, resumable_uploads.c.expires_at).where(
            resumable_uploads.c.id == upload.id
        )
    ).first()
    if row is None or row.expires_at < now:
        raise UploadNotFound(f"no upload in progress with id {upload.id}")
    raise Conflict(
        f"the upload is at offset {row.received} now, not {upload.offset}: "
        "another request moved it (HEAD tells where to resume)",
        code="offset_mismatch",
    )


def _insert(conn: Connection, upload: ResumableUpload, now: float) -> None:
    """Write ``upload``'s rows: the block store's upload (its blocks so far) and the
    resumable upload's offsets."""
    conn.execute(
        uploads.insert(),
        {
            "id": upload.id,
            "name": upload.path,
            "size": upload.length,
            "hash": "",
            "block_size": upload.block_size,
            "created_at": now,
            "expires_at": upload.expires_at,
            "owner": f"user:{upload.user_id}",
            "block_count": len(upload.blocks),
        },
    )
    if upload.blocks:
        conn.execute(
            upload_blocks.insert(),
            [
                {"upload_id": upload.id, "seq": i, "hash": h, "size": s}
                for i, (h, s) in enumerate(upload.blocks)
            ],
        )
    conn.execute(
        resumable_uploads.insert(),
        {
            "id": upload.id,
            "user_id": upload.user_id,
            "path": upload.path,
            "length": upload.length,
            "received": upload.offset,
            "metadata": upload.metadata,
            "created_at": now,
            "expires_at": upload.expires_at,
        },
    )
