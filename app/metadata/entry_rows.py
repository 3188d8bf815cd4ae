"""The rows of a user's namespace, read and written inside a caller's transaction: the
steps that the namespace (``app.metadata.namespace``) and its trash
(``app.metadata.trash``) are made of."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, func, or_, select, update

from app.errors import AppError, BadRequest, Conflict
from app.metadata.account_schema import fs_entries, fs_versions
from app.metadata.changes import MOVE, UPSERT, record_changes
from app.metadata.engine import batches, starts_with
from app.metadata.entries import ROOT, Entry, PathNotFound, entry_from_row
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


def move_entries(conn: Connection, user_id: int, source: str, target: str, now: float) -> Entry:
    """Rename a file or a folder with its whole subtree (and file versions); the target's
    folder is made if need be."""
    check_move(source, target)
    require_entry(conn, user_id, source)
    require_free(conn, user_id, target)
    ensure_folder(conn, user_id, posixpath.dirname(target), now)
    rows = conn.execute(
        select(fs_entries.c.path).where(subtree_of(user_id, source, fs_entries.c.path))
    ).scalars()
    for old in list(rows):
        new = target + old[len(source) :]
        conn.execute(
            update(fs_entries)
            .where(fs_entries.c.user_id == user_id, fs_entries.c.path == old)
            .values(path=new, parent=posixpath.dirname(new), name=posixpath.basename(new))
        )
    for version_id, old in conn.execute(
        select(fs_versions.c.id, fs_versions.c.path).where(
            subtree_of(user_id, source, fs_versions.c.path)
        )
    ).all():
        conn.execute(
            update(fs_versions)
            .where(fs_versions.c.id == version_id)
            .values(path=target + old[len(source) :])
        )
    moved = require_entry(conn, user_id, target)
    # One change for a folder: its subtree moves with it.
    record_changes(conn, user_id, [(MOVE, moved, source)], now)
    return moved


def copy_entries(
    conn: Connection, user_id: int, source: str, target: str, quota: int, now: float
) -> Entry:
    """Copy a file or a folder's subtree: new entries, the same content (no bytes)."""
    check_move(source, target)
    require_entry(conn, user_id, source)
    require_free(conn, user_id, target)
    rows = conn.execute(
        select(fs_entries)
        .where(subtree_of(user_id, source, fs_entries.c.path))
        .order_by(fs_entries.c.path)
    ).all()
    for row in rows:
        new = target + row.path[len(source) :]
        if row.is_dir:
            ensure_folder(conn, user_id, new, now)
        else:
            put_entry(conn, user_id, new, row.file_hash, row.size, quota, now)
    return require_entry(conn, user_id, target)


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
    current, latest = _current_and_latest(conn, user_id, [path])
    if path in current and current[path].is_dir:
        raise Conflict(f"{path} is a folder", code="is_a_directory")
    check_room(conn, user_id, file_hash, size, quota)
    entry = _next_version(path, file_hash, size, now, current, latest)
    _write_files(conn, user_id, [entry], current, now)
    return entry


def put_entries(
    conn: Connection, user_id: int, files: Sequence[tuple[str, str, int]], now: float
) -> list[Entry | AppError]:
    """``put_entry`` for many files of distinct paths without a quota, in a few
    statements; a file refused (a folder at its path, a file where its folder would
    be) is answered its error, and nothing of it is written."""
    refused: dict[str, AppError] = {}
    for parent in sorted({posixpath.dirname(path) for path, _hash, _size in files}):
        try:
            # It looks up the whole way before it writes: a refusal leaves nothing.
            ensure_folder(conn, user_id, parent, now)
        except AppError as exc:
            refused[parent] = exc
    current, latest = _current_and_latest(conn, user_id, [path for path, _h, _s in files])
    answers: list[Entry | AppError] = []
    for path, file_hash, size in files:
        if path == ROOT:
            answers.append(BadRequest("the root folder cannot be a file", code="invalid_path"))
        elif posixpath.dirname(path) in refused:
            answers.append(refused[posixpath.dirname(path)])
        elif path in current and current[path].is_dir:
            answers.append(Conflict(f"{path} is a folder", code="is_a_directory"))
        else:
            answers.append(_next_version(path, file_hash, size, now, current, latest))
    _write_files(conn, user_id, [a for a in answers if isinstance(a, Entry)], current, now)
    return answers


def _current_and_latest(
    conn: Connection, user_id: int, paths: Sequence[str]
) -> tuple[dict[str, Any], dict[str, int]]:
    """The entry rows at ``paths``, and the highest version each path kept."""
    current: dict[str, Any] = {}
    latest: dict[str, int] = {}
    for chunk in batches(paths):
        for row in conn.execute(
            select(fs_entries).where(fs_entries.c.user_id == user_id, fs_entries.c.path.in_(chunk))
        ):
            current[row.path] = row
        for path, version in conn.execute(
            select(fs_versions.c.path, func.max(fs_versions.c.version))
            .where(fs_versions.c.user_id == user_id, fs_versions.c.path.in_(chunk))
            .group_by(fs_versions.c.path)
        ):
            latest[path] = int(version)
    return current, latest


def _next_version(
    path: str,
    file_hash: str,
    size: int,
    now: float,
    current: dict[str, Any],
    latest: dict[str, int],
) -> Entry:
    held = current[path].version if path in current else 0
    return Entry(path, False, file_hash, size, now, max(latest.get(path, 0), held) + 1)


def _write_files(
    conn: Connection, user_id: int, entries: Sequence[Entry], current: dict[str, Any], now: float
) -> None:
    """Write the entries; the files they replace (rows of ``current``) become versions."""
    replaced = [current[entry.path] for entry in entries if entry.path in current]
    if replaced:
        conn.execute(
            fs_versions.insert(),
            [
                {
                    "user_id": user_id,
                    "path": row.path,
                    "version": row.version,
                    "file_hash": row.file_hash,
                    "size": row.size,
                    "mtime": row.mtime,
                    "archived_at": now,
                }
                for row in replaced
            ],
        )
        for chunk in batches([row.path for row in replaced]):
            conn.execute(
                delete(fs_entries).where(
                    fs_entries.c.user_id == user_id, fs_entries.c.path.in_(chunk)
                )
            )
    if entries:
        conn.execute(
            fs_entries.insert(),
            [
                {
                    "user_id": user_id,
                    "path": entry.path,
                    "parent": posixpath.dirname(entry.path),
                    "name": posixpath.basename(entry.path),
                    "is_dir": False,
                    "file_hash": entry.hash,
                    "size": entry.size,
                    "mtime": now,
                    "version": entry.version,
                }
                for entry in entries
            ],
        )
    record_changes(conn, user_id, [(UPSERT, entry, None) for entry in entries], now)
