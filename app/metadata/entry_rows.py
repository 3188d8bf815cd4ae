"""The rows of a user's namespace, read and written inside a caller's transaction: the
steps that the namespace (``app.metadata.namespace``) and its trash
(``app.metadata.trash``) are made of."""

from __future__ import annotations

import posixpath
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select

from app.errors import BadRequest, Conflict
from app.metadata.changes import UPSERT, record_changes
from app.metadata.engine import starts_with
from app.metadata.entries import ROOT, Entry, PathNotFound, entry_from_row
from app.metadata.schema import fs_entries, fs_versions
from app.metadata.usage import check_room


def subtree_of(user_id: int, path: str, column: Any) -> Any:
    """The condition for ``path`` and everything below it: paths are case-sensitive,
    and no character of a name is a wildcard."""
    return and_(
        column.table.c.user_id == user_id,
        or_(column == path, starts_with(column, path.rstrip("/") + "/")),
    )


def get_entry(conn: Connection, user_id: int, path: str) -> Entry | None:
    if path == ROOT:
        return Entry(ROOT, True)
    row = conn.execute(
        select(fs_entries).where(fs_entries.c.user_id == user_id, fs_entries.c.path == path)
    ).first()
    return None if row is None else entry_from_row(row)


def require_entry(conn: Connection, user_id: int, path: str) -> Entry:
    entry = get_entry(conn, user_id, path)
    if entry is None:
        raise PathNotFound(f"nothing at {path}")
    return entry


def require_free(conn: Connection, user_id: int, path: str) -> None:
    if get_entry(conn, user_id, path) is not None:
        raise Conflict(f"{path} exists", code="path_exists")


def check_move(source: str, target: str) -> None:
    if source == ROOT or target == ROOT:
        raise BadRequest("the root folder cannot be moved or copied", code="invalid_path")
    if target == source or target.startswith(source + "/"):
        raise BadRequest(f"{target} is inside {source}", code="invalid_path")


def ensure_folder(conn: Connection, user_id: int, path: str, now: float) -> None:
    """Create ``path`` and any missing parents as folders (each one a change of the
    feed); a file in the way is a 409."""
    missing: list[str] = []
    while path != ROOT:
        entry = get_entry(conn, user_id, path)
        if entry is not None:
            if not entry.is_dir:
                raise Conflict(f"{path} is a file", code="not_a_directory")
            break
        missing.append(path)
        path = posixpath.dirname(path)
    for folder in reversed(missing):
        conn.execute(
            fs_entries.insert(),
            {
                "user_id": user_id,
                "path": folder,
                "parent": posixpath.dirname(folder),
                "name": posixpath.basename(folder),
                "is_dir": True,
                "file_hash": None,
                "size": 0,
                "mtime": now,
                "version": 0,
            },
        )
    created = [(UPSERT, Entry(folder, True, None, 0, now, 0), None) for folder in reversed(missing)]
    record_changes(conn, user_id, created, now)


def put_entry(
    conn: Connection,
    user_id: int,
    path: str,
    file_hash: str,
    size: int,
    quota: int,
    now: float,
) -> Entry:
    if path == ROOT:
        raise BadRequest("the root folder cannot be a file", code="invalid_path")
    ensure_folder(conn, user_id, posixpath.dirname(path), now)
    current = get_entry(conn, user_id, path)
    if current is not None and current.is_dir:
        raise Conflict(f"{path} is a folder", code="is_a_directory")
    check_room(conn, user_id, file_hash, size, quota)
    latest = conn.execute(
        select(func.max(fs_versions.c.version)).where(
            fs_versions.c.user_id == user_id, fs_versions.c.path == path
        )
    ).scalar()
    version = max(latest or 0, current.version if current else 0) + 1
    if current is not None:
        conn.execute(
            fs_versions.insert(),
            {
                "user_id": user_id,
                "path": path,
                "version": current.version,
                "file_hash": current.hash,
                "size": current.size,
                "mtime": current.mtime,
                "archived_at": now,
            },
        )
        conn.execute(
            delete(fs_entries).where(fs_entries.c.user_id == user_id, fs_entries.c.path == path)
        )
    conn.execute(
        fs_entries.insert(),
        {
            "user_id": user_id,
            "path": path,
            "parent": posixpath.dirname(path),
            "name": posixpath.basename(path),
            "is_dir": False,
            "file_hash": file_hash,
            "size": size,
            "mtime": now,
            "version": version,
        },
    )
    entry = Entry(path, False, file_hash, size, now, version)
    record_changes(conn, user_id, [(UPSERT, entry, None)], now)
    return entry
