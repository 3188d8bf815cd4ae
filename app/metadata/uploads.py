"""Block uploads in progress: begun with their block list, committed into a manifest.

An upload's blocks are referenced from the moment it begins, so a block the master said
was present cannot be collected before the commit, and the blocks sent for it are kept
while it lasts. An upload left behind expires; its blocks then count as unreferenced
and garbage collection removes those no file needs.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update

from app.errors import UploadNotFound
from app.metadata.engine import write_transaction
from app.metadata.repository import FileRecord, MetadataStore, batches
from app.metadata.schema import blobs, upload_blocks, uploads


@dataclass(frozen=True)
class Upload:
    id: str
    name: str
    size: int
    hash: str
    block_size: int
    expires_at: float
    blocks: tuple[tuple[str, int], ...]


class UploadStore:
    """Uploads and their block lists, beside the catalogue they commit into."""

    def __init__(self, store: MetadataStore) -> None:
        self.store = store
        self.engine = store.engine

    def begin(
        self,
        name: str,
        size: int,
        file_hash: str,
        block_size: int,
        blocks: Sequence[tuple[str, int]],
        ttl: float,
    ) -> Upload:
        """Record a new upload and take references on the blocks that already exist."""
        now = time.time()
        # 128 bits from the OS's CSPRNG: an upload id is not guessable.
        upload = Upload(
            secrets.token_hex(16), name, size, file_hash, block_size, now + ttl, tuple(blocks)
        )
        with write_transaction(self.engine) as conn:
            conn.execute(
                uploads.insert(),
                {
                    "id": upload.id,
                    "name": name,
                    "size": size,
                    "hash": file_hash,
                    "block_size": block_size,
                    "created_at": now,
                    "expires_at": upload.expires_at,
                },
            )
            if blocks:
                conn.execute(
                    upload_blocks.insert(),
                    [
                        {"upload_id": upload.id, "seq": seq, "hash": h, "size": s}
                        for seq, (h, s) in enumerate(blocks)
                    ],
                )
            # On PostgreSQL this waits for a collection that is deleting one of these
            # blobs; the blob is then gone, and counted missing, never half-kept.
            for chunk in batches(list(dict.fromkeys(h for h, _size in blocks))):
                conn.execute(update(blobs).where(blobs.c.hash.in_(chunk)).values(referenced_at=now))
        return upload

    def add_block(self, upload_id: str, seq: int, block_hash: str, size: int) -> bool:
        """Append a block to an upload as it is cut; return whether the blob is known.

        The reference is taken before the blob is looked at, and touching the blob
        locks its row: a collection cannot delete it after this says it exists.
        """
        with write_transaction(self.engine) as conn:
            conn.execute(
                upload_blocks.insert(),
                {"upload_id": upload_id, "seq": seq, "hash": block_hash, "size": size},
            )
            touched = conn.execute(
                update(blobs).where(blobs.c.hash == block_hash).values(referenced_at=time.time())
            ).rowcount
        return bool(touched)

    def get(self, upload_id: str) -> Upload:
        """Return an upload still open; UploadNotFound once committed, aborted or expired."""
        with self.engine.connect() as conn:
            row = conn.execute(select(uploads).where(uploads.c.id == upload_id)).first()
            if row is None or row.expires_at < time.time():
                raise UploadNotFound(f"no upload in progress with id {upload_id}")
            blocks = conn.execute(
                select(upload_blocks.c.hash, upload_blocks.c.size)
                .where(upload_blocks.c.upload_id == upload_id)
                .order_by(upload_blocks.c.seq)
            ).all()
        return Upload(
            row.id,
            row.name,
            row.size,
            row.hash,
            row.block_size,
            row.expires_at,
            tuple((h, s) for h, s in blocks),
        )

    def commit(self, upload: Upload, *, public: bool = True) -> FileRecord:
        """Turn the upload into its file (blocks checked by the caller) and close it."""
        now = time.time()
        record = FileRecord(
            upload.hash, upload.name, upload.size, block_size=upload.block_size, public=public
        )
        with write_transaction(self.engine) as conn:
            closed = conn.execute(delete(uploads).where(uploads.c.id == upload.id)).rowcount
            if not closed:
                raise UploadNotFound(f"no upload in progress with id {upload.id}")
            self.store.add_manifest(conn, record, upload.blocks, now)
        committed = self.store.get(upload.hash)
        assert committed is not None
        return committed

    def abort(self, upload_id: str) -> None:
        """Close an upload without a file; its new blocks become collectable."""
        with write_transaction(self.engine) as conn:
            if not conn.execute(delete(uploads).where(uploads.c.id == upload_id)).rowcount:
                raise UploadNotFound(f"no upload in progress with id {upload_id}")

    def expire(self, now: float | None = None) -> int:
        """Close every upload past its expiry; return how many."""
        with write_transaction(self.engine) as conn:
            result = conn.execute(
                delete(uploads).where(uploads.c.expires_at < (now or time.time()))
            )
        return int(result.rowcount)
