"""What a master that lost its database rebuilds from, as the catalogue keeps it: the
blobs on the nodes that hold large files' manifests, snapshots of the user trees, and
the journal written since."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, ForeignKey, Index, Integer, String, Table

from app.metadata.master_metadata import HASH_LENGTH, master_metadata

# Each large file's manifest as a blob of its own on the nodes (kind "manifest"): what a
# master that lost this database rebuilds the file from. Kept while the file lives.
manifests = Table(
    "manifests",
    master_metadata,
    Column(
        "file_hash",
        String(HASH_LENGTH),
        ForeignKey("files.hash", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("blob_hash", String(HASH_LENGTH), nullable=False),
    Index("ix_manifests_blob", "blob_hash"),
)

# Snapshots of the user trees stored on the nodes (kind "snapshot"): the last few kept.
# ``hash`` and ``size`` are the snapshot's bytes; one larger than a block is stored as
# blocks (``snapshot_blocks``) listed by a manifest, its blob of kind "snapshot" at
# ``manifest_hash`` ("" for a snapshot that is one blob, at ``hash``).
snapshots = Table(
    "snapshots",
    master_metadata,
    Column("hash", String(HASH_LENGTH), primary_key=True),
    Column("taken_at", Float, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("manifest_hash", String(HASH_LENGTH), nullable=False, default=""),
    Index("ix_snapshots_taken", "taken_at"),
)

# The blocks of a snapshot stored as blocks, in order: private blobs kept while it is.
snapshot_blocks = Table(
    "snapshot_blocks",
    master_metadata,
    Column(
        "snapshot_hash",
        String(HASH_LENGTH),
        ForeignKey("snapshots.hash", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True),
    Column("block_hash", String(HASH_LENGTH), nullable=False),
    Column("size", BigInteger, nullable=False),
    Index("ix_snapshot_blocks_block", "block_hash"),
)

# The journal of files written into user trees since the snapshots kept (kind
# "journal", ``app.metadata.journal``): replayed over the snapshot a rebuilt master restores.
journal = Table(
    "journal",
    master_metadata,
    Column("hash", String(HASH_LENGTH), primary_key=True),
    Column("written_at", Float, nullable=False),
    Column("size", BigInteger, nullable=False),
    Index("ix_journal_written", "written_at"),
)
