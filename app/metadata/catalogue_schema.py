"""The master's catalogue: files, their blocks, blobs and their copies on the nodes,
the nodes themselves, the catalogue's version, and what deletions leave behind
(tombstones, pending deletes)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table

from app.metadata.master_metadata import HASH_LENGTH, NAME_LENGTH, master_metadata

# The replicated unit: a whole small file, or one block of a large one, by SHA-256.
blobs = Table(
    "blobs",
    master_metadata,
    # Not only SHA-256: the reference registers arbitrary keys such as "test123".
    Column("hash", String(HASH_LENGTH), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    # When a file or an upload last took a reference: collection of an unreferenced blob
    # waits a grace period after it, and never races an upload that just counted on it.
    Column("referenced_at", Float, nullable=False),
    # How many rows of ``replicas`` name this blob, kept by the database's own triggers
    # (``count_copies``): the repairer finds blobs off their replication target by this
    # index instead of counting every blob's copies on each pass.
    Column("copies", Integer, nullable=False, default=0),
    Index("ix_blobs_copies", "copies"),
)

files = Table(
    "files",
    master_metadata,
    Column("hash", String(HASH_LENGTH), primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False, default=""),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    # 0: the file is one blob under its own hash; else its blocks are in file_blocks.
    Column("block_size", BigInteger, nullable=False, default=0),
    # In the reference's global catalogue (/list, /get, /download). Content stored only
    # through the per-user API is not: knowing its hash grants nothing, and it is
    # deleted once no user's file, version, trash entry or share refers to it.
    Column("public", Boolean, nullable=False, default=True),
)

# A large file's manifest: its blocks in order.
file_blocks = Table(
    "file_blocks",
    master_metadata,
    Column(
        "file_hash",
        String(HASH_LENGTH),
        ForeignKey("files.hash", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True),
    Column("block_hash", String(HASH_LENGTH), ForeignKey("blobs.hash"), nullable=False),
    Column("size", BigInteger, nullable=False),
    Index("ix_file_blocks_block", "block_hash"),
)

replicas = Table(
    "replicas",
    master_metadata,
    Column(
        "hash",
        String(HASH_LENGTH),
        ForeignKey("blobs.hash", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("node", String(HASH_LENGTH), primary_key=True),
    # When the node last vouched for this copy; an inventory sync prunes older ones.
    Column("confirmed_at", Float, nullable=False),
    # The node serves this copy only through a signed URL: its bytes reached the node
    # only for content of the per-user API (a master's private write, or a repair copy
    # of such a copy). A public upload of the same bytes makes it public, never back.
    Column("private", Boolean, nullable=False, default=False),
    Index("ix_replicas_node", "node"),
)

nodes = Table(
    "nodes",
    master_metadata,
    Column("id", String(HASH_LENGTH), primary_key=True),
    Column("url", String(512), nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    # As of the last heartbeat: the node's disk and what it holds.
    Column("capacity_bytes", BigInteger, nullable=False, default=0),
    Column("free_bytes", BigInteger, nullable=False, default=0),
    Column("used_bytes", BigInteger, nullable=False, default=0),
    Column("files", BigInteger, nullable=False, default=0),
    # When the master's probes or reads found it no longer answering although it may
    # still beat (0: answering): it is left out of placement and reads meanwhile.
    Column("unresponsive_since", Float, nullable=False, default=0.0),
    # When its stream to a master broke and it then did not answer (0: not known down):
    # down at once, not NODE_TIMEOUT later (app.master.streams).
    Column("down_since", Float, nullable=False, default=0.0),
    # The node's scrubbing as its last heartbeat told it (app.metadata.records ScrubFigures).
    Column("scrub_started_at", Float, nullable=False, default=0.0),
    Column("scrub_finished_at", Float, nullable=False, default=0.0),
    Column("scrub_seconds", Float, nullable=False, default=0.0),
    Column("scrub_checked", BigInteger, nullable=False, default=0),
    Column("scrub_corrupt", BigInteger, nullable=False, default=0),
    Column("scrub_missing", BigInteger, nullable=False, default=0),
)

# One row counting changes to files, blobs and replicas: each master worker's hot index drops
# its entries when it moves. Node heartbeats do not touch it, unlike SQLite's own
# data_version, which moves with every commit to any table.
catalogue_version = Table(
    "catalogue_version",
    master_metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

# Deleted blobs: an inventory from a node that was away must not bring them back.
tombstones = Table(
    "tombstones",
    master_metadata,
    Column("hash", String(HASH_LENGTH), primary_key=True),
    Column("deleted_at", Float, nullable=False),
)

# Copies still to delete on nodes that were down when their blob was deleted.
pending_deletes = Table(
    "pending_deletes",
    master_metadata,
    Column("hash", String(HASH_LENGTH), primary_key=True),
    Column("node", String(HASH_LENGTH), primary_key=True),
    Index("ix_pending_deletes_node", "node"),
)
