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

import time
from collections.abc import Callable, Sequence

from sqlalchemy import Engine, func, select

from app.errors import AppError, Conflict, NotFound
from app.metadata.account_schema import fs_entries, fs_versions
from app.metadata.changes import journal_seq
from app.metadata.engine import batches, ensure_schema, write_transaction
from app.metadata.entries import ROOT, Entry, PathNotFound, entry_from_row
from app.metadata.entry_rows import (
    copy_entries,
    ensure_folder,
    get_entry,
    move_entries,
    put_entries,
    put_entry,
    require_entry,
    subtree_of,
)
from app.metadata.journal_records import COPY, MKDIR, MOVE, JournalRecord, files_record, tree_record
from app.metadata.schema import master_metadata
from app.metadata.trash import TrashStore
from app.metadata.usage import used_bytes

# What a folder's listing may be sorted by (folders always come first).
SORT_COLUMNS = {"name": fs_entries.c.name, "size": fs_entries.c.size, "mtime": fs_entries.c.mtime}


class NamespaceStore(TrashStore):
    """Per-user folders and files over the catalogue's content, with their trash
    (``TrashStore``)."""

    def __init__(
        self, engine: Engine, on_write: Callable[[JournalRecord], None] | None = None
    ) -> None:
        self.engine = engine
        # Called with the record of each change of a user's tree, once committed and
        # before it is answered (the master's journal: ``app.metadata.journal``).
        self._on_write = on_write
        ensure_schema(master_metadata, engine)

    # ----- reads -----

    def get(self, user_id: int, path: str) -> Entry | None:
        if path == ROOT:
            return Entry(ROOT, True)
        with self.engine.connect() as conn:
            return get_entry(conn, user_id, path)

    def get_many(self, user_id: int, paths: Sequence[str]) -> dict[str, Entry]:
        """The entries at those of ``paths`` that exist, by path, in a query per
        ``IN_BATCH`` paths (a zip of a sync's files names hundreds)."""
        found = {ROOT: Entry(ROOT, True)} if ROOT in paths else {}
        wanted = sorted({path for path in paths if path != ROOT})
        with self.engine.connect() as conn:
            for some in batches(wanted):
                rows = conn.execute(
                    select(fs_entries).where(
                        fs_entries.c.user_id == user_id, fs_entries.c.path.in_(some)
                    )
                )
                found.update((row.path, entry_from_row(row)) for row in rows)
        return found

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
                .where(subtree_of(user_id, path, fs_entries.c.path), fs_entries.c.path != path)
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
            entry = put_entry(conn, user_id, path, file_hash, size, quota, now)
            seq = journal_seq(conn, user_id)
        self._journal(files_record(user_id, [entry], time.time(), seq))
        return entry

    def put_files(
        self, user_id: int, files: Sequence[tuple[str, str, int]], quota: int
    ) -> list[Entry | AppError]:
        """``put_file`` each (path, hash, size), in order, all in one transaction; a file
        refused (a folder in the way, the quota) is answered its error and the others go
        on."""
        now = time.time()
        with write_transaction(self.engine) as conn:
            if not quota and len({path for path, _hash, _size in files}) == len(files):
                answers = put_entries(conn, user_id, files, now)
            else:
                # A quota counts each file after the one before; a path twice is a
                # version of itself: one after the other, each in a savepoint of its own.
                answers = []
                for path, file_hash, size in files:
                    try:
                        with conn.begin_nested():
                            answers.append(
                                put_entry(conn, user_id, path, file_hash, size, quota, now)
                            )
                    except AppError as exc:
                        answers.append(exc)
            seq = journal_seq(conn, user_id)
        put = [a for a in answers if isinstance(a, Entry)]
        self._journal(files_record(user_id, put, time.time(), seq))
        return answers

    def mkdir(self, user_id: int, path: str) -> Entry:
        """Create a folder and its parents; an existing folder is fine."""
        with write_transaction(self.engine) as conn:
            ensure_folder(conn, user_id, path, time.time())
            entry = require_entry(conn, user_id, path)
            seq = journal_seq(conn, user_id)
        self._journal(tree_record(user_id, MKDIR, (path,), time.time(), seq))
        return entry

    def move(self, user_id: int, source: str, target: str) -> Entry:
        """Rename a file or a folder with its whole subtree (and file versions)."""
        with write_transaction(self.engine) as conn:
            moved = move_entries(conn, user_id, source, target, time.time())
            seq = journal_seq(conn, user_id)
        self._journal(tree_record(user_id, MOVE, (source, target), time.time(), seq))
        return moved

    def copy(self, user_id: int, source: str, target: str, quota: int) -> Entry:
        """Copy a file or a folder's subtree: new entries, the same content (no bytes)."""
        with write_transaction(self.engine) as conn:
            copied = copy_entries(conn, user_id, source, target, quota, time.time())
            seq = journal_seq(conn, user_id)
        self._journal(tree_record(user_id, COPY, (source, target), time.time(), seq))
        return copied

    def restore_version(self, user_id: int, path: str, version: int, quota: int) -> Entry:
        """Make an earlier version the current content again (as a new version)."""
        for entry in self.versions(user_id, path):
            if entry.version == version:
                assert entry.hash is not None
                return self.put_file(user_id, path, entry.hash, entry.size, quota)
        raise NotFound(f"{path} has no version {version}", code="version_not_found")
