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

from sqlalchemy import Connection, delete, func, select, update

from app.errors import TooManyRequests, UploadNotFound
from app.metadata.catalogue_schema import blobs
from app.metadata.engine import batches, dialect_insert, write_transaction
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.manifests import Manifest, ManifestSink, record_manifest
from app.metadata.records import FileRecord
from app.metadata.upload_schema import upload_blocks, uploads


@dataclass(frozen=True)
class Upload:
    id: str
    name: str
    size: int
    hash: str
    block_size: int
    expires_at: float
    blocks: tuple[tuple[str, int], ...]
    # Who began it, as ``begin`` was told (an account upload's user: its limits, and
    # whose it is).
    owner: str = ""


@dataclass(frozen=True)
class OpenUploadLimits:
    """What one owner may hold open at once: uploads, and blocks they list (0: any)."""

    uploads: int = 0
    blocks: int = 0


class UploadStore:
    """Uploads and their block lists, beside the catalogue they commit into."""

    def __init__(self, store: FileCatalogue, manifests: ManifestSink | None = None) -> None:
        self.store = store
        self.engine = store.engine
        # Where a committed file's manifest is written first (the master's nodes); None:
        # nowhere (unit tests of the catalogue alone).
        self.manifests = manifests

    def begin(
        self,
        name: str,
        size: int,
        file_hash: str,
        block_size: int,
        blocks: Sequence[tuple[str, int]],
        ttl: float,
        *,
        owner: str = "",
        limits: OpenUploadLimits | None = None,
    ) -> Upload:
        """Record a new upload and take references on the blocks that already exist.

        With an ``owner`` and ``limits``: 429 when the owner's open uploads would pass
        them (checked in the write transaction; on PostgreSQL, owners announcing at the
        same instant may pass it by as many as announce together).
        """
        now = time.time()
        upload = new_upload(name, size, file_hash, block_size, blocks, ttl, owner=owner)
        with write_transaction(self.engine) as conn:
            if owner and limits is not None:
                _check_room(conn, owner, len(blocks), limits, now)
            conn.execute(uploads.insert(), _upload_row(upload, owner, now))
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

    def add_block(
        self, upload_id: str, seq: int, block_hash: str, size: int, *, opening: Upload | None = None
    ) -> bool:
        """Append a block to an upload as it is cut; return whether the blob is known.

        With ``opening`` (made by ``new_upload``, not yet begun), the upload's row is
        written first if it is not there yet, in the same transaction: an ingest's
        first block costs one commit, not two.

        The reference is taken before the blob is looked at, and touching the blob
        locks its row: a collection cannot delete it after this says it exists.
        """
        with write_transaction(self.engine) as conn:
            if opening is not None:
                conn.execute(
                    dialect_insert(conn)(uploads).on_conflict_do_nothing(),
                    _upload_row(opening, "", time.time()),
                )
            conn.execute(
                upload_blocks.insert(),
                {"upload_id": upload_id, "seq": seq, "hash": block_hash, "size": size},
            )
            touched = conn.execute(
                update(blobs).where(blobs.c.hash == block_hash).values(referenced_at=time.time())
            ).rowcount
        return bool(touched)

    def close_in(self, conn: Connection, upload_id: str) -> None:
        """Close an upload without a file, inside ``conn``'s transaction: the one in
        which something else (a resumable upload's row) takes its blocks over."""
        conn.execute(delete(uploads).where(uploads.c.id == upload_id))

    def get(self, upload_id: str) -> Upload:
        """Return an upload still open; UploadNotFound once committed, aborted or expired."""
        with self.engine.connect() as conn:
            row = conn.execute(select(uploads).where(uploads.c.id == upload_id)).first()
            if row is None or row.expires_at < time.time():
                raise UploadNotFound(f"no upload in progress with id {upload_id}")
            blocks = block_list(conn, upload_id)
        return Upload(
            row.id, row.name, row.size, row.hash, row.block_size, row.expires_at, blocks, row.owner
        )

    def commit(self, upload: Upload, *, public: bool = True) -> FileRecord:
        """Turn the upload into its file (blocks checked by the caller) and close it.

        The manifest is written to the nodes first (``manifests``): a file acknowledged
        is one a master rebuilt from its nodes finds again.
        """
        now = time.time()
        record = FileRecord(
            upload.hash, upload.name, upload.size, block_size=upload.block_size, public=public
        )
        stored = None
        if self.manifests is not None:
            stored = self.manifests.store(
                Manifest(
                    upload.hash, upload.name, upload.size, upload.block_size, upload.blocks, public
                )
            )
        with write_transaction(self.engine) as conn:
            closed = conn.execute(delete(uploads).where(uploads.c.id == upload.id)).rowcount
            if not closed:
                raise UploadNotFound(f"no upload in progress with id {upload.id}")
            self.store.add_manifest(conn, record, upload.blocks, now)
            if stored is not None:
                self.store.add_blobs(
                    conn, [(stored.hash, stored.size)], stored.nodes, now, private=True
                )
                record_manifest(conn, upload.hash, stored.hash)
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


def new_upload(
    name: str,
    size: int,
    file_hash: str,
    block_size: int,
    blocks: Sequence[tuple[str, int]],
    ttl: float,
    *,
    owner: str = "",
) -> Upload:
    """An upload not yet recorded, under a fresh id, expiring ``ttl`` seconds from now."""
    # 128 bits from the OS's CSPRNG: an upload id is not guessable.
    return Upload(
        secrets.token_hex(16),
        name,
        size,
        file_hash,
        block_size,
        time.time() + ttl,
        tuple(blocks),
        owner,
    )


def _upload_row(upload: Upload, owner: str, created_at: float) -> dict[str, object]:
    return {
        "id": upload.id,
        "name": upload.name,
        "size": upload.size,
        "hash": upload.hash,
        "block_size": upload.block_size,
        "created_at": created_at,
        "expires_at": upload.expires_at,
        "owner": owner,
        "block_count": len(upload.blocks),
    }


def block_list(conn: Connection, upload_id: str) -> tuple[tuple[str, int], ...]:
    """An upload's blocks so far, (hash, size) in order."""
    rows = conn.execute(
        select(upload_blocks.c.hash, upload_blocks.c.size)
        .where(upload_blocks.c.upload_id == upload_id)
        .order_by(upload_blocks.c.seq)
    ).all()
    return tuple((block_hash, size) for block_hash, size in rows)


def _check_room(
    conn: Connection, owner: str, wanted: int, limits: OpenUploadLimits, now: float
) -> None:
    """Refuse (429) an announcement past what its owner may hold open."""
    held_uploads, held_blocks = conn.execute(
        select(func.count(), func.coalesce(func.sum(uploads.c.block_count), 0)).where(
            uploads.c.owner == owner, uploads.c.expires_at >= now
        )
    ).one()
    advice = "commit them, DELETE /uploads/<id> those abandoned, or let them expire"
    if limits.uploads and held_uploads >= limits.uploads:
        raise TooManyRequests(
            f"{held_uploads} block uploads are open for this client, the most it may hold "
            f"at once: {advice}",
            code="too_many_open_uploads",
        )
    if limits.blocks and int(held_blocks) + wanted > limits.blocks:
        raise TooManyRequests(
            f"this client's open uploads list {int(held_blocks)} blocks, and this one "
            f"{wanted} more: at most {limits.blocks} at once ({advice})",
            code="too_many_open_blocks",
        )
