"""A SQLite database that has no room to grow: SQLite's own SQLITE_FULL, without root.

``max_page_count`` caps a connection's database at its current size, and SQLite then
answers a write that needs one more page exactly as when the disk is full ("database or
disk is full"). With 512-byte pages, a catalogue row with a long name needs an overflow
page, so the refusal is certain rather than a matter of free space left in a page.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

# 200 two-byte characters: 400 bytes of name, more than a 512-byte page's row can hold.
LONG_NAME = "\u00e9" * 200 + ".txt"


def create_with_small_pages(path: Path) -> None:
    """Create the database file at ``path`` with 512-byte pages (before any table)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA page_size=512")
        conn.execute("VACUUM")  # writes the header: the page size is now the file's
    finally:
        conn.close()


@contextmanager
def no_room(engine: Engine) -> Iterator[None]:
    """While the block runs, ``engine``'s connections may not grow the database."""

    def cap(dbapi_connection: Any, _record: Any) -> None:
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    event.listen(engine, "connect", cap)
    engine.dispose()  # pooled connections were opened without the cap
    try:
        yield
    finally:
        event.remove(engine, "connect", cap)
        engine.dispose()
