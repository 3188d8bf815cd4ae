"""Each user's folders and files, their versions and their trash (share links, which
point at the same content: ``app.metadata.shares``).

Entries point at content by hash; the content itself is a file of the catalogue (not
public unless also stored through the global API). A path holds a folder or a file;
writing a file over another keeps the old one as a version; deleting moves a file or a
whole folder to the trash. Whenever a reference to content goes away for good (an
expired version, trash entry or share), the file's ``updated_at`` is touched: garbage
collection deletes private content only after it has been unreferenced for its grace.

Paths are normalised by the caller (``app.userfiles.paths``); the entries themselves, and the
root folder, are in ``app.metadata.entries``.
"""

from __future__ import annotations

import posixpath
import secrets
import time
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, or_, select, update

from app.errors import BadRequest, Conflict, NotFound
from app.metadata.collection import release_content
from app.metadata.engine import ensure_schema, starts_with, write_transaction
from app.metadata.entries import ROOT, Entry, PathNotFound, entry_from_row
from app.metadata.schema import (
    fs_entries,
    fs_versions,
    master_metadata,
    shares,
    trash,
    trash_items,
)
from app.metadata.usage import check_room, used_bytes


def _subtree(user_id: int, path: str, column: Any) -> Any:
    """The condition for ``path`` and everything below it: paths are case-sensitive,
    and no character of a name is a wildcard."""
    return and_(
        column.table.c.user_id == user_id,
        or_(column == path, starts_with(column, path.rstrip("/") + "/")),
    )


# What a folder's listing may be sorted by (folders always come first).
SORT_COLUMNS = {"name": fs_entries.c.name, "size": fs_entries.c.size, "mtime": fs_entries.c.mtime}


class NamespaceStore:
    """Per-user folders and files over the catalogue's content."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ensure_schema(master_metadata, engine)

    # ----- reads -----

    def get(self, user_id: int, path: str) -> Entry | None:
        if path == ROOT:
            return Entry(ROOT, True)
        with self.engine.connect() as conn:
            return self._get(conn, user_id, path)

    def require(self, user_id: int, path: str) -> Entry:
        entry = self.get(user_id, path)
        if entry is None:
            raise PathNotFound(f"nothing at {path}")
        return entry

    def list_dir(
        self,
        user_id: int,
        path: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        sort: str = "name",
        descending: bool = False,
    ) -> list[Entry]:
        """A page of the folder's entries, folders first, then by ``sort``."""
        self._require_folder(user_id, path)
        column = SORT_COLUMNS[sort]
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(fs_entries)
                .where(fs_entries.c.user_id == user_id, fs_entries.c.parent == path)
                .order_by(
                    fs_entries.c.is_dir.desc(),
                    column.desc() if descending else column,
                    fs_entries.c.name.desc() if descending else fs_entries.c.name,
                )
                .offset(offset)
                .limit(limit)
            ).all()
        return [entry_from_row(row) for row in rows]

    def count_dir(self, user_id: int, path: str) -> int:
        """How many entries the folder holds."""
        self._require_folder(user_id, path)
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(fs_entries)
                    .where(fs_entries.c.user_id == user_id, fs_entries.c.parent == path)
                ).scalar_one()
            )

    def _require_folder(self, user_id: int, path: str) -> None:
        if not self.require(user_id, path).is_dir:
            raise Conflict(f"{path} is a file", code="not_a_directory")

    def search(self, user_id: int, query: str, limit: int) -> list[Entry]:
        """Entries whose name contains ``query``, ignoring (ASCII) case, by path."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(fs_entries)
                .where(
                    fs_entries.c.user_id == user_id,
                    func.lower(fs_entries.c.name).contains(query.lower(), autoescape=True),
                )
                .order_by(fs_entries.c.path)
                .limit(limit)
            ).all()
        return [entry_from_row(row) for row in rows]

    def subtree(self, user_id: int, path: str) -> list[Entry]:
        """Every folder and file below ``path`` (not itself), by path."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(fs_entries)
                .where(_subtree(user_id, path, fs_entries.c.path), fs_entries.c.path != path)
                .order_by(fs_entries.c.path)
            ).all()
        return [entry_from_row(row) for row in rows]

    def versions(self, user_id: int, path: str) -> list[Entry]:
        """The file's current content first, then its earlier versions, newest first."""
        current = self.get(user_id, path)
        if current is not None and current.is_dir:
            raise Conflict(f"{path} is a folder", code="is_a_directory")
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(fs_versions)
                .where(fs_versions.c.user_id == user_id, fs_versions.c.path == path)
                .order_by(fs_versions.c.version.desc())
            ).all()
        older = [Entry(r.path, False, r.file_hash, r.size, r.mtime, r.version) for r in rows]
        if current is None and not older:
            raise PathNotFound(f"no file was ever at {path}")
        return ([current] if current else []) + older

    def used_bytes(self, user_id: int) -> int:
        """What the user's quota counts (``app.metadata.usage``)."""
        with self.engine.connect() as conn:
            return used_bytes(conn, user_id)

    # ----- writes -----

    def put_file(self, user_id: int, path: str, file_hash: str, size: int, quota: int) -> Entry:
        """Make ``path`` hold this content; the content it held becomes a version."""
        now = time.time()
        with write_transaction(self.engine) as conn:
            return self._put(conn, user_id, path, file_hash, size, quota, now)

    def mkdir(self, user_id: int, path: str) -> Entry:
        """Create a folder and its parents; an existing folder is fine."""
        with write_transaction(self.engine) as conn:
            self._ensure_folder(conn, user_id, path, time.time())
            entry = self._get(conn, user_id, path)
        assert entry is not None
        return entry

    def move(self, user_id: int, source: str, target: str) -> Entry:
        """Rename a file or a folder with its whole subtree (and file versions)."""
        self._check_move(source, target)
        now = time.time()
        with write_transaction(self.engine) as conn:
            self._source(conn, user_id, source)
            self._free(conn, user_id, target)
            self._ensure_folder(conn, user_id, posixpath.dirname(target), now)
            rows = conn.execute(
                select(fs_entries.c.path).where(_subtree(user_id, source, fs_entries.c.path))
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
                    _subtree(user_id, source, fs_versions.c.path)
                )
            ).all():
                conn.execute(
                    update(fs_versions)
                    .where(fs_versions.c.id == version_id)
                    .values(path=target + old[len(source) :])
                )
            moved = self._get(conn, user_id, target)
        assert moved is not None
        return moved

    def copy(self, user_id: int, source: str, target: str, quota: int) -> Entry:
        """Copy a file or a folder's subtree: new entries, the same content (no bytes)."""
        self._check_move(source, target)
        now = time.time()
        with write_transaction(self.engine) as conn:
            self._source(conn, user_id, source)
            self._free(conn, user_id, target)
            rows = conn.execute(
                select(fs_entries)
                .where(_subtree(user_id, source, fs_entries.c.path))
                .order_by(fs_entries.c.path)
            ).all()
            for row in rows:
                new = target + row.path[len(source) :]
                if row.is_dir:
                    self._ensure_folder(conn, user_id, new, now)
                else:
                    self._put(conn, user_id, new, row.file_hash, row.size, quota, now)
            copied = self._get(conn, user_id, target)
        assert copied is not None
        return copied

    def trash(self, user_id: int, path: str) -> str:
        """Move a file or folder (with its subtree) to the trash; return the trash id."""
        if path == ROOT:
            raise BadRequest("the root folder cannot be deleted", code="invalid_path")
        trash_id = secrets.token_hex(8)
        now = time.time()
        with write_transaction(self.engine) as conn:
            top = self._source(conn, user_id, path)
            rows = conn.execute(
                select(fs_entries).where(_subtree(user_id, path, fs_entries.c.path))
            ).all()
            conn.execute(
                trash.insert(),
                {
                    "id": trash_id,
                    "user_id": user_id,
                    "path": path,
                    "is_dir": top.is_dir,
                    "deleted_at": now,
                },
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
            conn.execute(delete(fs_entries).where(_subtree(user_id, path, fs_entries.c.path)))
        return trash_id

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
        now = time.time()
        with write_transaction(self.engine) as conn:
            top = conn.execute(
                select(trash).where(trash.c.id == trash_id, trash.c.user_id == user_id)
            ).first()
            if top is None:
                raise NotFound(f"no trash entry {trash_id}", code="trash_not_found")
            items = conn.execute(
                select(trash_items)
                .where(trash_items.c.trash_id == trash_id)
                .order_by(trash_items.c.path)
            ).all()
            for item in items:
                if item.is_dir:
                    self._ensure_folder(conn, user_id, item.path, now)
                else:
                    self._put(conn, user_id, item.path, item.file_hash, item.size, quota, now)
            conn.execute(delete(trash).where(trash.c.id == trash_id))
            restored = self._get(conn, user_id, top.path)
        assert restored is not None
        return restored

    def purge_trash(self, user_id: int, trash_id: str | None = None) -> int:
        """Delete one trash entry for good, or the whole trash (None); return how many
        went. Their content is released as expiry releases it: its quota is freed now,
        its bytes once nothing refers to them for the grace period."""
        owned = trash.c.user_id == user_id
        if trash_id is not None:
            owned = and_(owned, trash.c.id == trash_id)
        with write_transaction(self.engine) as conn:
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

    def restore_version(self, user_id: int, path: str, version: int, quota: int) -> Entry:
        """Make an earlier version the current content again (as a new version)."""
        for entry in self.versions(user_id, path):
            if entry.version == version:
                assert entry.hash is not None
                return self.put_file(user_id, path, entry.hash, entry.size, quota)
        raise NotFound(f"{path} has no version {version}", code="version_not_found")

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

    # ----- internals -----

    def _get(self, conn: Connection, user_id: int, path: str) -> Entry | None:
        if path == ROOT:
            return Entry(ROOT, True)
        row = conn.execute(
            select(fs_entries).where(fs_entries.c.user_id == user_id, fs_entries.c.path == path)
        ).first()
        return None if row is None else entry_from_row(row)

    def _source(self, conn: Connection, user_id: int, path: str) -> Entry:
        entry = self._get(conn, user_id, path)
        if entry is None:
            raise PathNotFound(f"nothing at {path}")
        return entry

    def _free(self, conn: Connection, user_id: int, path: str) -> None:
        if self._get(conn, user_id, path) is not None:
            raise Conflict(f"{path} exists", code="path_exists")

    @staticmethod
    def _check_move(source: str, target: str) -> None:
        if source == ROOT or target == ROOT:
            raise BadRequest("the root folder cannot be moved or copied", code="invalid_path")
        if target == source or target.startswith(source + "/"):
            raise BadRequest(f"{target} is inside {source}", code="invalid_path")

    def _ensure_folder(self, conn: Connection, user_id: int, path: str, now: float) -> None:
        """Create ``path`` and any missing parents as folders; a file in the way is a 409."""
        missing: list[str] = []
        while path != ROOT:
            entry = self._get(conn, user_id, path)
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

    def _put(
        self,
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
        self._ensure_folder(conn, user_id, posixpath.dirname(path), now)
        current = self._get(conn, user_id, path)
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
        return Entry(path, False, file_hash, size, now, version)
