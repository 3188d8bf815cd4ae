"""Table definitions: the master's file catalogue and a node's local blob catalogue."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
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
