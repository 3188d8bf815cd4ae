"""The master's accounts and per-user namespaces: users and their tokens, each user's
tree with its earlier versions, trash and shares, and the change feed of the trees."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table

from app.metadata.master_metadata import HASH_LENGTH, NAME_LENGTH, PATH_LENGTH, master_metadata

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
