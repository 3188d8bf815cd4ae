"""The last synced tree of one local folder, in ``LOCAL/.mdbx/sync.db`` (SQLite).

For each path both sides agreed on at the last sync: folder or file, its SHA-256 and size,
the local file's ``mtime_ns`` and inode when it was recorded (the scan's hash cache), and
the remote version. Beside it, the settings of this folder (its remote folder, the folders
excluded) and the change feed's cursor, with the remote tree as of that cursor.

Crash-safe: each action is recorded in its own transaction once it is done (WAL, so a
killed client loses at most the action it was doing, which the next run decides again).
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.client.errors import ClientError
from app.client.sync.planner import DIR, Node

STATE_DIR = ".mdbx"
STATE_FILE = "sync.db"
LOCK_FILE = "lock"

SCHEMA = """
CREATE TABLE IF NOT EXISTS base (
    path TEXT PRIMARY KEY,
    is_dir INTEGER NOT NULL,
    hash TEXT,
    size INTEGER NOT NULL,
    mtime_ns INTEGER,
    inode INTEGER,
    version INTEGER
);
CREATE TABLE IF NOT EXISTS remote (
    path TEXT PRIMARY KEY,
    is_dir INTEGER NOT NULL,
    hash TEXT,
    size INTEGER NOT NULL,
    version INTEGER
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class FolderBusy(ClientError):
    """Another sync holds the folder."""


@dataclass(frozen=True)
class LocalStat:
    """What says a local file did not change since it was hashed."""

    size: int
    mtime_ns: int
    inode: int


class SyncState:
    """One folder's sync database; single-threaded (the engine records from one thread)."""

    def __init__(self, root: Path) -> None:
        folder = root / STATE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        # One sync of a folder at a time: two would each act on a plan the other spoils.
        self._lock = (folder / LOCK_FILE).open("a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise FolderBusy(
                f"another mdbx sync is running on {root}", code="sync_running"
            ) from None
        self._db = sqlite3.connect(folder / STATE_FILE, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL survives a killed process (not a power cut's last commits).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._depth = 0

    def close(self) -> None:
        self._db.close()
        self._lock.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Record several done actions in one transaction (a batch upload's files)."""
        if self._depth == 0:
            self._db.execute("BEGIN")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self._db.execute("COMMIT")

    # ----- the base -----

    def base(self) -> dict[str, Node]:
        rows = self._db.execute("SELECT path, is_dir, hash, size, version FROM base")
        return {
            path: _node(is_dir, digest, size, version)
            for path, is_dir, digest, size, version in rows
        }

    def hash_cache(self) -> dict[str, tuple[LocalStat, str]]:
        """The hash of each recorded file with the stat it had then."""
        rows = self._db.execute(
            "SELECT path, size, mtime_ns, inode, hash FROM base "
            "WHERE is_dir = 0 AND hash IS NOT NULL"
        )
        return {
            path: (LocalStat(size, mtime_ns or 0, inode or 0), digest)
            for path, size, mtime_ns, inode, digest in rows
        }

    def record(self, path: str, node: Node, stat: LocalStat | None = None) -> None:
        """``path`` is ``node`` on both sides now (``stat``: the local file's, for a file)."""
        self._db.execute(
            "INSERT OR REPLACE INTO base VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                path,
                int(node.is_dir),
                node.hash,
                node.size,
                stat.mtime_ns if stat else None,
                stat.inode if stat else None,
                node.version,
            ),
        )

    def forget(self, path: str) -> None:
        """Nothing is at ``path`` nor under it any more, on either side."""
        self._db.execute(
            "DELETE FROM base WHERE path = ? OR substr(path, 1, ?) = ?",
            (path, len(path) + 1, path + "/"),
        )

    def move(self, source: str, target: str) -> None:
        """What was at ``source`` (and under it) is at ``target`` on both sides now."""
        self._move_rows("base", source, target)

    # ----- the remote tree as of the feed's cursor -----

    def remote_tree(self) -> dict[str, Node]:
        rows = self._db.execute("SELECT path, is_dir, hash, size, version FROM remote")
        return {
            path: _node(is_dir, digest, size, version)
            for path, is_dir, digest, size, version in rows
        }

    def replace_remote(self, tree: Mapping[str, Node], cursor: str | None) -> None:
        """A whole listing of the remote folder, taken at ``cursor``."""
        with self.batch():
            self._db.execute("DELETE FROM remote")
            self._db.executemany(
                "INSERT INTO remote VALUES (?, ?, ?, ?, ?)",
                [(p, int(n.is_dir), n.hash, n.size, n.version) for p, n in tree.items()],
            )
            self.set_setting("cursor", cursor)

    def set_remote(self, path: str, node: Node | None) -> None:
        """One change of the remote tree (``None``: gone, with its subtree; ``""``:
        the whole tree)."""
        if node is None:
            if path == "":
                self._db.execute("DELETE FROM remote")
                return
            self._db.execute(
                "DELETE FROM remote WHERE path = ? OR substr(path, 1, ?) = ?",
                (path, len(path) + 1, path + "/"),
            )
            return
        self._db.execute(
            "INSERT OR REPLACE INTO remote VALUES (?, ?, ?, ?, ?)",
            (path, int(node.is_dir), node.hash, node.size, node.version),
        )

    def move_remote(self, source: str, target: str) -> None:
        """What was at ``source`` on the server is at ``target`` (over what was there)."""
        self.set_remote(target, None)
        self._move_rows("remote", source, target)

    def _move_rows(self, table: str, source: str, target: str) -> None:
        assert table in ("base", "remote")
        self._db.execute(
            f"UPDATE {table} SET path = ? || substr(path, ?) "
            "WHERE path = ? OR substr(path, 1, ?) = ?",
            (target, len(source) + 1, source, len(source) + 1, source + "/"),
        )

    # ----- settings -----

    def setting(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str | None) -> None:
        if value is None:
            self._db.execute("DELETE FROM settings WHERE key = ?", (key,))
        else:
            self._db.execute("INSERT OR REPLACE INTO settings VALUES (?, ?)", (key, value))

    def excluded(self) -> list[str]:
        """The folders selective sync leaves out (remembered from ``--exclude``)."""
        raw = self.setting("excluded")
        return list(json.loads(raw)) if raw else []

    def set_excluded(self, folders: list[str]) -> None:
        self.set_setting("excluded", json.dumps(sorted(set(folders))))


def _node(is_dir: int, digest: str | None, size: int, version: int | None) -> Node:
    return DIR if is_dir else Node(False, digest, size, version)
