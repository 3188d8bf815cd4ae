"""The catalogue's version: one row that every write to files, blobs or copies bumps.

Each master worker's hot index (``app.metadata.hotindex``) drops its entries when the
version moves, so that no worker answers from a stale record. Node heartbeats do not
bump it, unlike SQLite's own data_version, which moves with every commit to any table.
"""

from __future__ import annotations

from sqlalchemy import Connection

VERSION_QUERY = "SELECT version FROM catalogue_version WHERE id = 1"
_BUMP = "UPDATE catalogue_version SET version = version + 1 WHERE id = 1"


def bump_catalogue_version(conn: Connection) -> None:
    """Mark, inside a write transaction, that files, blobs or replicas changed."""
    cursor = conn.connection.cursor()  # the driver's: see DriverStatement
    try:
        cursor.execute(_BUMP)
    finally:
        cursor.close()
