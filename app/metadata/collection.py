"""What keeps content stored, and the purge of what nothing keeps.

A blob stays while a file is it, has it as a block or as its manifest, an upload in
progress counts on it, or it is a snapshot kept (its blob, or its manifest and blocks)
or a journal record kept; once none does it
is purged (at once when its last file goes, after a grace period from its
``referenced_at`` when an upload was abandoned) and tombstoned, so that an inventory
from a node that was away does not bring it back. A private file (content of the
per-user API only) stays while a user's file, version, trash entry or share refers
to it, and is purged once unreferenced for its grace period, which ``release_content``
starts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, Connection, delete, exists, or_, select, update

from app.metadata.account_schema import fs_entries, fs_versions, shares, trash_items
from app.metadata.catalogue_schema import blobs, file_blocks, files, replicas, tombstones
from app.metadata.catalogue_version import bump_catalogue_version
from app.metadata.engine import batches, dialect_insert
from app.metadata.records import PurgedBlob
from app.metadata.recovery_schema import journal, manifests, snapshot_blocks, snapshots
from app.metadata.upload_schema import upload_blocks

# True for a blob that a file or an upload in progress still needs: the file itself, one
# of its blocks or its manifest, or a snapshot kept (its blob, manifest or blocks).
BLOB_IS_REFERENCED: ColumnElement[bool] = or_(
    exists().where(files.c.hash == blobs.c.hash),
    exists().where(file_blocks.c.block_hash == blobs.c.hash),
    exists().where(upload_blocks.c.hash == blobs.c.hash),
    exists().where(manifests.c.blob_hash == blobs.c.hash),
    exists().where(snapshots.c.hash == blobs.c.hash),
    exists().where(snapshots.c.manifest_hash == blobs.c.hash),
    exists().where(snapshot_blocks.c.block_hash == blobs.c.hash),
    exists().where(journal.c.hash == blobs.c.hash),
)


# True for a private file that some user's file, version, trash entry or share uses.
FILE_IS_REFERENCED: ColumnElement[bool] = or_(
    exists().where(fs_entries.c.file_hash == files.c.hash),
    exists().where(fs_versions.c.file_hash == files.c.hash),
    exists().where(trash_items.c.file_hash == files.c.hash),
    exists().where(shares.c.file_hash == files.c.hash),
)


def purge_unreferenced(
    conn: Connection, hashes: Sequence[str] | None, cutoff: float, limit: int
) -> list[PurgedBlob]:
    """Delete unreferenced blobs (all, or among ``hashes``) and tombstone them.

    The DELETE re-checks the condition its SELECT used: on PostgreSQL an upload may
    take a reference in between, and then the blob stays.
    """
    doomed = ~BLOB_IS_REFERENCED & (blobs.c.referenced_at <= cutoff)
    query = select(blobs.c.hash).where(doomed).order_by(blobs.c.hash).limit(limit)
    if hashes is not None:
        query = query.where(blobs.c.hash.in_(list(hashes)))
    candidates = list(conn.execute(query).scalars())
    if not candidates:
        return []
    copies: dict[str, list[str]] = {h: [] for h in candidates}
    for blob_hash, node in conn.execute(
        select(replicas.c.hash, replicas.c.node).where(replicas.c.hash.in_(candidates))
    ):
        copies[blob_hash].append(node)
    gone = conn.execute(
        delete(blobs).where(blobs.c.hash.in_(candidates), doomed).returning(blobs.c.hash)
    ).scalars()
    purged = [PurgedBlob(h, tuple(sorted(copies[h]))) for h in sorted(gone)]
    if purged:
        conn.execute(
            dialect_insert(conn)(tombstones).on_conflict_do_nothing(),
            [{"hash": blob.hash, "deleted_at": cutoff} for blob in purged],
        )
    return purged


def release_content(conn: Connection, hashes: Iterable[str]) -> None:
    """Start the grace period of content that just lost a reference."""
    unique: Sequence[str] = list(dict.fromkeys(hashes))
    if not unique:
        return
    bump_catalogue_version(conn)
    for chunk in batches(unique):
        conn.execute(
            update(files)
            .where(files.c.hash.in_(chunk), ~files.c.public)
            .values(updated_at=time.time())
        )
