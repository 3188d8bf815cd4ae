"""The master's tables: its catalogue (files, their blocks, blobs and replicas, uploads
in progress, nodes), accounts and per-user namespaces; and the migrations that bring an
older master database to them. A node's tables are in ``app.metadata.node_schema``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    select,
    update,
)
from sqlalchemy.sql import CompoundSelect

from app.metadata.settings import settings_table

HASH_LENGTH = 128
NAME_LENGTH = 1024
# In UTF-8 bytes: PostgreSQL's b-tree keys must stay under ~2.7 kB.
PATH_LENGTH = 1024

master_metadata = MetaData()

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

# The master's: the key that signs node URLs in open mode, migrations done.
settings = settings_table(master_metadata)

# ----- accounts and per-user namespaces -----

users = Table(
    "users",
    master_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    # Bytes of the distinct content the user keeps (app.metadata.usage); 0 means no limit.
    Column("quota_bytes", BigInteger, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
)

# Bearer tokens, stored as their SHA-256: a copy of the database logs nobody in.
api_tokens = Table(
    "api_tokens",
    master_metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", Float, nullable=False),
    # "api" (a bearer token from POST /api/login) or "web" (the web app's session cookie).
    Column("kind", String(8), nullable=False, default="api"),
    # 0: never (API tokens live until revoked); a web session expires.
    Column("expires_at", Float, nullable=False, default=0.0),
    # What logged in (a browser's User-Agent, cut short), shown on the account page.
    Column("label", String(200), nullable=False, default=""),
    Index("ix_api_tokens_user", "user_id"),
)

# What each user sees now: folders, and files pointing at content by hash.
fs_entries = Table(
    "fs_entries",
    master_metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(PATH_LENGTH), primary_key=True),
    Column("parent", String(PATH_LENGTH), nullable=False),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("is_dir", Boolean, nullable=False),
    Column("file_hash", String(HASH_LENGTH), nullable=True),
    Column("size", BigInteger, nullable=False, default=0),
    Column("mtime", Float, nullable=False),
    Column("version", Integer, nullable=False, default=0),
    Index("ix_fs_entries_parent", "user_id", "parent"),
    Index("ix_fs_entries_file", "file_hash"),
)

# Earlier contents of a path, kept when it is overwritten.
fs_versions = Table(
    "fs_versions",
    master_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("path", String(PATH_LENGTH), nullable=False),
    Column("version", Integer, nullable=False),
    Column("file_hash", String(HASH_LENGTH), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("mtime", Float, nullable=False),
    Column("archived_at", Float, nullable=False),
    Index("ix_fs_versions_path", "user_id", "path"),
    Index("ix_fs_versions_file", "file_hash"),
)

# Deleted files and folders, restorable until the trash retention runs out.
trash = Table(
    "trash",
    master_metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("path", String(PATH_LENGTH), nullable=False),
    Column("is_dir", Boolean, nullable=False),
    Column("deleted_at", Float, nullable=False),
    Index("ix_trash_user", "user_id"),
)

# Every file and folder a trash entry holds (a folder brings its whole subtree).
trash_items = Table(
    "trash_items",
    master_metadata,
    Column("trash_id", String(32), ForeignKey("trash.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(PATH_LENGTH), primary_key=True),
    Column("is_dir", Boolean, nullable=False),
    Column("file_hash", String(HASH_LENGTH), nullable=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime", Float, nullable=False),
    Column("version", Integer, nullable=False),
    Index("ix_trash_items_file", "file_hash"),
)

# Links anyone can open: the content they were made for, until expiry or revocation.
shares = Table(
    "shares",
    master_metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("path", String(PATH_LENGTH), nullable=False),
    Column("file_hash", String(HASH_LENGTH), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("password_hash", String(255), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Index("ix_shares_user", "user_id"),
    Index("ix_shares_file", "file_hash"),
)

# The account change feed (``app.metadata.changes``): every change to a user's tree,
# written in the transaction that makes it, numbered per user in commit order.
changes = Table(
    "changes",
    master_metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    # "upsert", "delete" or "move" (then from_path is where it was).
    Column("kind", String(8), nullable=False),
    Column("path", String(PATH_LENGTH), nullable=False),
    Column("from_path", String(PATH_LENGTH), nullable=True),
    # The entry as the change left it (a delete: as it was).
    Column("is_dir", Boolean, nullable=False),
    Column("file_hash", String(HASH_LENGTH), nullable=True),
    Column("size", BigInteger, nullable=False),
    Column("mtime", Float, nullable=False),
    Column("version", Integer, nullable=False),
    Column("recorded_at", Float, nullable=False),
    Index("ix_changes_recorded", "recorded_at"),
)

# Each user's feed position: the last ``seq`` given, and the last one trimmed away by
# retention (a cursor before it has missed changes). Taking the next seq updates this
# row, which holds every other writer of the user's tree until commit: numbers are given
# in commit order, so a reader that saw seq N has seen every change up to N.
feed_heads = Table(
    "feed_heads",
    master_metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", BigInteger, nullable=False, default=0),
    Column("trimmed", BigInteger, nullable=False, default=0),
)

# SQL that keeps ``blobs.copies`` equal to the blob's rows in ``replicas``, per dialect.
# A copy's key never changes (only its ``confirmed_at`` does), so inserts and deletes are
# all there is to count; a blob's deletion takes its copies with it (ON DELETE CASCADE).
_COUNT_COPIES_SQL = {
    "sqlite": (
        "CREATE TRIGGER replicas_counted_in AFTER INSERT ON replicas BEGIN "
        "UPDATE blobs SET copies = copies + 1 WHERE hash = NEW.hash; END",
        "CREATE TRIGGER replicas_counted_out AFTER DELETE ON replicas BEGIN "
        "UPDATE blobs SET copies = copies - 1 WHERE hash = OLD.hash; END",
    ),
    "postgresql": (
        "CREATE OR REPLACE FUNCTION mdbx_count_copies() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF TG_OP = 'INSERT' THEN "
        "UPDATE blobs SET copies = copies + 1 WHERE hash = NEW.hash; "
        "ELSE UPDATE blobs SET copies = copies - 1 WHERE hash = OLD.hash; END IF; "
        "RETURN NULL; END $$",
        "CREATE TRIGGER replicas_counted AFTER INSERT OR DELETE ON replicas "
        "FOR EACH ROW EXECUTE FUNCTION mdbx_count_copies()",
    ),
}
_HAS_COUNT_TRIGGER = {
    "sqlite": "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'replicas_counted_in'",
    "postgresql": "SELECT 1 FROM pg_trigger "
    "WHERE tgname = 'replicas_counted' AND tgrelid = 'replicas'::regclass",
}


def count_copies(conn: Connection) -> bool:
    """Install the triggers behind ``blobs.copies`` if they are missing, and count every
    blob's copies afresh when they were (a catalogue from before them); True if so.

    Runs in the caller's write transaction (SQLite's holds the database's write lock);
    on PostgreSQL the install locks ``replicas`` against writers, so that another
    master's copies are counted either by the fresh count or by the triggers, never by
    neither.
    """
    dialect = conn.dialect.name
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_blobs_copies ON blobs (copies)")
    if conn.exec_driver_sql(_HAS_COUNT_TRIGGER[dialect]).first() is not None:
        return False
    if dialect == "postgresql":
        conn.exec_driver_sql("LOCK TABLE replicas IN SHARE ROW EXCLUSIVE MODE")
        if conn.exec_driver_sql(_HAS_COUNT_TRIGGER[dialect]).first() is not None:
            return False  # another master's start did it while this one waited
    for statement in _COUNT_COPIES_SQL[dialect]:
        conn.exec_driver_sql(statement)
    recount_copies(conn)
    return True


def recount_copies(conn: Connection) -> None:
    """Set every blob's ``copies`` from ``replicas`` (rows the triggers did not see)."""
    conn.exec_driver_sql(
        "UPDATE blobs SET copies = (SELECT count(*) FROM replicas WHERE replicas.hash = blobs.hash)"
    )


# In ``settings`` once ``mark_private_copies`` has run on this catalogue.
PRIVATE_COPIES_MARKED = "migration.private_copies"


def mark_private_copies(conn: Connection) -> bool:
    """Once per catalogue: mark private the copies of content that only the per-user API
    refers to; True if it ran.

    Catalogues from before copies had a visibility (#17) gained ``replicas.private`` as
    false everywhere; their nodes learn which copies to hide from their next inventory.
    """
    if conn.execute(
        select(settings.c.name).where(settings.c.name == PRIVATE_COPIES_MARKED)
    ).first():
        return False

    def used_by(public: bool) -> CompoundSelect[Any]:
        visible = files.c.public if public else ~files.c.public
        blocks = file_blocks.join(files, files.c.hash == file_blocks.c.file_hash)
        whole = select(files.c.hash).where(visible)
        return whole.union(select(file_blocks.c.block_hash).select_from(blocks).where(visible))

    conn.execute(
        update(replicas)
        .where(
            replicas.c.hash.in_(used_by(public=False)), replicas.c.hash.not_in(used_by(public=True))
        )
        .values(private=True)
    )
    # A master starting at the same moment may insert it too: ensure_schema retries then.
    conn.execute(settings.insert(), {"name": PRIVATE_COPIES_MARKED, "value": "done"})
    return True


# Run after the master's tables and columns exist (``engine.ensure_schema``).
master_metadata.info["migrations"] = (count_copies, mark_private_copies)
