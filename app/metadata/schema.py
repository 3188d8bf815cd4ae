"""Table definitions: the master's file catalogue and a node's local blob catalogue."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

HASH_LENGTH = 128
NAME_LENGTH = 1024

master_metadata = MetaData()

files = Table(
    "files",
    master_metadata,
    # Not only SHA-256: the reference registers arbitrary keys such as "test123".
    Column("hash", String(HASH_LENGTH), primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False, default=""),
    Column("size", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

replicas = Table(
    "replicas",
    master_metadata,
    Column(
        "hash",
        String(HASH_LENGTH),
        ForeignKey("files.hash", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("node", String(HASH_LENGTH), primary_key=True),
    # When the node last vouched for this copy; an inventory sync prunes older ones.
    Column("confirmed_at", Float, nullable=False),
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
)

# One row counting changes to files and replicas: each master worker's hot index drops
# its entries when it moves. Node heartbeats do not touch it, unlike SQLite's own
# data_version, which moves with every commit to any table.
catalogue_version = Table(
    "catalogue_version",
    master_metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)

# Deleted content: an inventory from a node that was away must not bring it back.
tombstones = Table(
    "tombstones",
    master_metadata,
    Column("hash", String(HASH_LENGTH), primary_key=True),
    Column("deleted_at", Float, nullable=False),
)

# Copies still to delete on nodes that were down when their file was deleted.
pending_deletes = Table(
    "pending_deletes",
    master_metadata,
    Column("hash", String(HASH_LENGTH), primary_key=True),
    Column("node", String(HASH_LENGTH), primary_key=True),
    Index("ix_pending_deletes_node", "node"),
)

node_metadata = MetaData()

blobs = Table(
    "blobs",
    node_metadata,
    Column("hash", String(64), primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False, default=""),
    Column("size", BigInteger, nullable=False),
    Column("stored_at", Float, nullable=False),
    # False until the master has acknowledged this copy; the node retries until it has.
    Column("registered", Boolean, nullable=False, default=False),
    Index("ix_blobs_registered", "registered"),
)
