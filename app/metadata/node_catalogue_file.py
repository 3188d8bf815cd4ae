"""Opening a node's catalogue database, afresh when SQLite finds it corrupt.

The catalogue is an index of the blob files beside it: the node's first full sync makes it
list exactly what is on disk (``NodeCatalogue.reconcile``) and the master's answer to the
inventory restores which copies are private. So a database SQLite cannot read (a bad
header, a failed ``quick_check``) must not keep the node from starting: it is moved aside
for a post-mortem, with its WAL, and an empty one takes its place.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from app.metadata.engine import make_engine, sqlite_url
from app.metadata.node_catalogue import NodeCatalogue

log = logging.getLogger(__name__)

SIDE_FILES = ("-wal", "-shm")


def open_node_catalogue(path: Path) -> NodeCatalogue:
    """Open the catalogue at ``path``; one that is corrupt is set aside first."""
    # One worker checks at a time: two would both set aside the same file.
    with _exclusive(path.with_name(path.name + ".lock")):
        problem = corruption_of(path)
        if problem is not None:
            aside = set_aside(path)
            log.error("catalogue %s is corrupt (%s): moved to %s, rebuilt", path, problem, aside)
        return NodeCatalogue(make_engine(sqlite_url(path), synchronous="NORMAL"))


def corruption_of(path: Path) -> str | None:
    """What is wrong with the SQLite database at ``path``, None if it is sound or absent."""
    if not path.exists():
        return None
    try:
        with closing(sqlite3.connect(path)) as conn:
            rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    if rows != [("ok",)]:
        return "; ".join(str(row[0]) for row in rows[:5])
    return None


def set_aside(path: Path) -> Path:
    """Rename the database (and its WAL) to ``<name>.corrupt-<time>``; return the name."""
    aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    for suffix in ("", *SIDE_FILES):
        source = path.with_name(path.name + suffix)
        if source.exists():
            os.replace(source, aside.with_name(aside.name + suffix))
    return aside


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
