"""The master's uploads in progress: block uploads, and the resumable (tus) uploads of a
user's file over them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, ForeignKey, Index, Integer, String, Table

from app.metadata.master_metadata import HASH_LENGTH, NAME_LENGTH, PATH_LENGTH, master_metadata

# Block uploads in progress: their blocks are referenced (never collected) until the
# upload is committed, aborted, or expires.
uploads = Table(
    "uploads",
    master_metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("hash", String(HASH_LENGTH), nullable=False),
    Column("block_size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    # Who announced it (a client address, or an admin token: "" for the master's own
    # ingest) and how many blocks it lists: what the per-client limits count.
    Column("owner", String(128), nullable=False, default=""),
    Column("block_count", Integer, nullable=False, default=0),
)

upload_blocks = Table(
    "upload_blocks",
    master_metadata,
    Column(
        "upload_id",
        String(64),
        ForeignKey("uploads.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True),
    Column("hash", String(HASH_LENGTH), nullable=False),
    Column("size", BigInteger, nullable=False),
    Index("ix_upload_blocks_hash", "hash"),
)

# Resumable uploads (tus, ``/api/tus/``) of a user's file: the part of an ``uploads`` row
# (same id; its ``upload_blocks`` are the blocks received so far) that the protocol needs.
# Kept after completion until ``expires_at``, so that a client whose last answer was lost
# learns from HEAD that it is done.
resumable_uploads = Table(
    "resumable_uploads",
    master_metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("path", String(PATH_LENGTH), nullable=False),
    Column("length", BigInteger, nullable=False),
    # Bytes received and stored so far (the tus Upload-Offset).
    Column("received", BigInteger, nullable=False, default=0),
    # The client's Upload-Metadata header as sent, echoed back by HEAD.
    Column("metadata", String(4096), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    # The content's hash once the last byte arrived and the file is at its path.
    Column("file_hash", String(HASH_LENGTH), nullable=True),
    Index("ix_resumable_uploads_expires", "expires_at"),
)
