"""A user's trash, and the retention that empties it and drops old versions and expired
share links: the part of ``NamespaceStore`` that ends references to content
(``release_content``), so that garbage collection may take it after its grace."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, select

from app.errors import BadRequest, NotFound
from app.metadata.account_schema import fs_entries, fs_versions, shares, trash, trash_items
from app.metadata.changes import DELETE, hold_feed, journal_seq, record_changes
from app.metadata.collection import release_content
from app.metadata.engine import write_transaction
from app.metadata.entries import ROOT, Entry
from app.metadata.entry_rows import ensure_folder, put_entry, require_entry, subtree_of
from app.metadata.journal_records import PURGE, TRASH, UNTRASH, JournalRecord, tree_record


class TrashStore:
    """Moving to and from the trash, purging it, and the retention of what was kept."""

    engine: Engine
    # Called with the record of each change, once committed (``NamespaceStore``).
    _on_write: Callable[[JournalRecord], None] | None

    def trash(self, user_id: int, path: str) -> str:
        """Move a file or folder (with its subtree) to the trash; return the trash id."""
        trash_id = secrets.token_hex(8)
        with write_transaction(self.engine) as conn:
            trash_entries(conn, user_id, path, trash_id, time.time())
            seq = journal_seq(conn, user_id)
        self._journal(tree_record(user_id, TRASH, (path, trash_id), time.time(), seq))
        return trash_id

    def _journal(self, record: JournalRecord) -> None:
        if self._on_write is not None and not record.is_empty():
            self._on_write(record)

    def list_trash(self, user_id: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    trash,
                    func.coalesce(func.sum(trash_items.c.size), 0).label("bytes"),
                    func.count(trash_items.c.path).label("items"),
                )
                .select_from(trash.outerjoin(trash_items, trash_items.c.trash_id == trash.c.id))
                .where(trash.c.user_id == user_id)
                .group_by(*trash.c)
                .order_by(trash.c.deleted_at.desc())
            ).all()
        return [
            {
                "trash_id": r.id,
                "path": r.path,
                "is_dir": r.is_dir,
                "size": int(r.bytes),
                "items": int(r.items),
                "deleted_at": r.deleted_at,
            }
            for r in rows
        ]

    def restore_trash(self, user_id: int, trash_id: str, quota: int) -> Entry:
        """Put a trash entry back where it was; a file now there becomes a version."""
        with write_transaction(self.engine) as conn:
            # Held first: a restore that makes no entry (its folders are there) takes no
            # number, and must still be ordered with those that do (``hold_feed``).
            hold_feed(conn, user_id)
            restored = restore_trash_entries(conn, user_id, trash_id, quota, time.time())
            seq = journal_seq(conn, user_id)
        self._journal(tree_record(user_id, UNTRASH, (trash_id,), time.time(), seq))
        return restored

    def purge_trash(self, user_id: int, trash_id: str | None = None) -> int:
        """Delete one trash entry for good, or the whole trash (None); return how many
        went. Their content is released as expiry releases it: its quota is freed now,
        its bytes once nothing refers to them for the grace period."""
        with write_transaction(self.engine) as conn:
            # No feed number of its own: the head, held before the purge, orders it.
            seq = hold_feed(conn, user_id)
            purged = purge_trash_entries(conn, user_id, trash_id)
        self._journal(tree_record(user_id, PURGE, (trash_id or "",), time.time(), seq))
        return purged

    # ----- retention -----

    def expire(self, now: float, trash_retention: float, version_retention: float) -> int:
        """Purge trash entries, versions and share links past their time; return how many."""
        with write_transaction(self.engine) as conn:
            dropped: list[str] = []
            old_trash = select(trash.c.id).where(trash.c.deleted_at < now - trash_retention)
            dropped += conn.execute(
                select(trash_items.c.file_hash).where(trash_items.c.trash_id.in_(old_trash))
            ).scalars()
            purged = conn.execute(delete(trash).where(trash.c.id.in_(old_trash))).rowcount
            old_versions = fs_versions.c.archived_at < now - version_retention
            dropped += conn.execute(select(fs_versions.c.file_hash).where(old_versions)).scalars()
            purged += conn.execute(delete(fs_versions).where(old_versions)).rowcount
            expired = and_(shares.c.expires_at.is_not(None), shares.c.expires_at < now)
            dropped += conn.execute(select(shares.c.file_hash).where(expired)).scalars()
            purged += conn.execute(delete(shares).where(expired)).rowcount
            release_content(conn, [h for h in dropped if h])
        return int(purged)


def trash_entries(conn: Connection, user_id: int, path: str, trash_id: str, now: float) -> None:
    """Move a file or folder (with its subtree) to the trash as entry ``trash_id``, in
    the caller's transaction."""
    if path == ROOT:
        raise BadRequest("the root folder cannot be deleted", code="invalid_path")
    top = require_entry(conn, user_id, path)
    rows = conn.execute(
        select(fs_entries).where(subtree_of(user_id, path, fs_entries.c.path))
    ).all()
    conn.execute(
        trash.insert(),
        {"id": trash_id, "user_id": user_id, "path": path, "is_dir": top.is_dir, "deleted_at": now},
    )
    conn.execute(
        trash_items.insert(),
        [
            {
                "trash_id": trash_id,
                "path": r.path,
                "is_dir": r.is_dir,
                "file_hash": r.file_hash,
                "size": r.size,
                "mtime": r.mtime,
                "version": r.version,
            }
            for r in rows
        ],
    )
    conn.execute(delete(fs_entries).where(subtree_of(user_id, path, fs_entries.c.path)))
    # One change for a folder: its subtree goes with it.
    record_changes(conn, user_id, [(DELETE, top, None)], now)


def purge_trash_entries(conn: Connection, user_id: int, trash_id: str | None) -> int:
    """``purge_trash`` in the caller's transaction: how many entries went; NotFound for
    a ``trash_id`` the user's trash does not hold."""
    owned = trash.c.user_id == user_id
    if trash_id is not None:
        owned = and_(owned, trash.c.id == trash_id)
    doomed = select(trash.c.id).where(owned)
    dropped = conn.execute(
        select(trash_items.c.file_hash).where(trash_items.c.trash_id.in_(doomed))
    ).scalars()
    hashes = [h for h in dropped if h]
    conn.execute(delete(trash_items).where(trash_items.c.trash_id.in_(doomed)))
    purged = int(conn.execute(delete(trash).where(owned)).rowcount)
    if trash_id is not None and not purged:
        raise NotFound(f"no trash entry {trash_id}", code="trash_not_found")
    release_content(conn, hashes)
    return purged


def has_trash_entry(conn: Connection, user_id: int, trash_id: str) -> bool:
    found = conn.execute(
        select(trash.c.id).where(trash.c.id == trash_id, trash.c.user_id == user_id)
    ).first()
    return found is not None


def restore_trash_entries(
    conn: Connection, user_id: int, trash_id: str, quota: int, now: float
) -> Entry:
    """Put trash entry ``trash_id`` back where it was, in the caller's transaction."""
    top = conn.execute(
        select(trash).where(trash.c.id == trash_id, trash.c.user_id == user_id)
    ).first()
    if top is None:
        raise NotFound(f"no trash entry {trash_id}", code="trash_not_found")
    items = conn.execute(
        select(trash_items).where(trash_items.c.trash_id == trash_id).order_by(trash_items.c.path)
    ).all()
    for item in items:
        if item.is_dir:
            ensure_folder(conn, user_id, item.path, now)
        else:
            put_entry(conn, user_id, item.path, item.file_hash, item.size, quota, now)
    conn.execute(delete(trash).where(trash.c.id == trash_id))
    return require_entry(conn, user_id, top.path)
