"""A node's tables: its catalogue of the blobs it holds, and what its masters told it."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Index, MetaData, String, Table

from app.metadata.master_metadata import NAME_LENGTH
from app.metadata.settings import settings_table

node_metadata = MetaData()

held_blobs = Table(
    "blobs",
    node_metadata,
    Column("hash", String(64), primary_key=True),
    Column("name", String(NAME_LENGTH), nullable=False, default=""),
    Column("size", BigInteger, nullable=False),
    Column("stored_at", Float, nullable=False),
    # False until the master has acknowledged this copy; the node retries until it has.
    Column("registered", Boolean, nullable=False, default=False),
    # "file" (a whole file, listed by name) or "block" (part of a large file's manifest):
    # a master that lost its catalogue recreates files only from the former.
    Column("kind", String(8), nullable=False, default="file"),
    # Served only through a master-signed URL (see ``replicas.private``).
    Column("private", Boolean, nullable=False, default=False),
    Index("ix_blobs_registered", "registered"),
)

# A node's: what its masters told it (the signing key of open mode, the nodes' URLs).
node_settings = settings_table(node_metadata)
