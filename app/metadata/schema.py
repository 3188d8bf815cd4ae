"""The master's database as a whole: ``master_metadata`` with every table of the master
in it (each domain's module imported here), the ``settings`` table, and the migrations
that bring an older master database to them. Whatever creates or migrates the database
takes ``master_metadata`` from here. A node's tables are in ``app.metadata.node_schema``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.sql import CompoundSelect

# Every table module, for its tables (each joins master_metadata as it is defined):
# whoever takes master_metadata from here has them all before creating the database.
from app.metadata import (  # noqa: F401
    account_schema,
    catalogue_schema,
    recovery_schema,
    upload_schema,
)
from app.metadata.catalogue_schema import file_blocks, files, replicas
from app.metadata.master_metadata import master_metadata
from app.metadata.settings import settings_table

__all__ = [
    "PRIVATE_COPIES_MARKED",
    "count_copies",
    "mark_private_copies",
    "master_metadata",
    "recount_copies",
    "settings",
]

# The master's: the key that signs node URLs in open mode, migrations done.
settings = settings_table(master_metadata)


# SQL that keeps ``blobs.copies`` equal to the blob's rows in ``replicas``, per dialect.
# A copy's key never changes (only its ``confirmed_at`` does), so inserts and deletes are
# all there is to count; a blob's deletion takes its copies with it (ON DELETE CASCADE).
_COUNT_COPIES_SQL = {
    "sqlite": (
        "CREATE TRIGGER replicas_counted_in AFTER INSERT ON replicas BEGIN "
        "UPDATE blobs SET copies = copies + 1 WHERE hash = NEW.hash; END",
        "CREATE TRIGGER replicas_counted_out AFTER DELETE ON replicas BEGIN "
        "UPDATE blobs SET copies = copies - 1 WHERE hash = OLD.hash; END",
    ),
    "postgresql": (
        "CREATE OR REPLACE FUNCTION mdbx_count_copies() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN IF TG_OP = 'INSERT' THEN "
        "UPDATE blobs SET copies = copies + 1 WHERE hash = NEW.hash; "
        "ELSE UPDATE blobs SET copies = copies - 1 WHERE hash = OLD.hash; END IF; "
        "RETURN NULL; END $$",
        "CREATE TRIGGER replicas_counted AFTER INSERT OR DELETE ON replicas "
        "FOR EACH ROW EXECUTE FUNCTION mdbx_count_copies()",
    ),
}
_HAS_COUNT_TRIGGER = {
    "sqlite": "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = 'replicas_counted_in'",
    "postgresql": "SELECT 1 FROM pg_trigger "
    "WHERE tgname = 'replicas_counted' AND tgrelid = 'replicas'::regclass",
}


def count_copies(conn: Connection) -> bool:
    """Install the triggers behind ``blobs.copies`` if they are missing, and count every
    blob's copies afresh when they were (a catalogue from before them); True if so.

    Runs in the caller's write transaction (SQLite's holds the database's write lock);
    on PostgreSQL the install locks ``replicas`` against writers, so that another
    master's copies are counted either by the fresh count or by the triggers, never by
    neither.
    """
    dialect = conn.dialect.name
    conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_blobs_copies ON blobs (copies)")
    if conn.exec_driver_sql(_HAS_COUNT_TRIGGER[dialect]).first() is not None:
        return False
    if dialect == "postgresql":
        conn.exec_driver_sql("LOCK TABLE replicas IN SHARE ROW EXCLUSIVE MODE")
        if conn.exec_driver_sql(_HAS_COUNT_TRIGGER[dialect]).first() is not None:
            return False  # another master's start did it while this one waited
    for statement in _COUNT_COPIES_SQL[dialect]:
        conn.exec_driver_sql(statement)
    recount_copies(conn)
    return True


def recount_copies(conn: Connection) -> None:
    """Set every blob's ``copies`` from ``replicas`` (rows the triggers did not see)."""
    conn.exec_driver_sql(
        "UPDATE blobs SET copies = (SELECT count(*) FROM replicas WHERE replicas.hash = blobs.hash)"
    )


# In ``settings`` once ``mark_private_copies`` has run on this catalogue.
PRIVATE_COPIES_MARKED = "migration.private_copies"


def mark_private_copies(conn: Connection) -> bool:
    """Once per catalogue: mark private the copies of content that only the per-user API
    refers to; True if it ran.

    Catalogues from before copies had a visibility (#17) gained ``replicas.private`` as
    false everywhere; their nodes learn which copies to hide from their next inventory.
    """
    if conn.execute(
        select(settings.c.name).where(settings.c.name == PRIVATE_COPIES_MARKED)
    ).first():
        return False

    def used_by(public: bool) -> CompoundSelect[Any]:
        visible = files.c.public if public else ~files.c.public
        blocks = file_blocks.join(files, files.c.hash == file_blocks.c.file_hash)
        whole = select(files.c.hash).where(visible)
        return whole.union(select(file_blocks.c.block_hash).select_from(blocks).where(visible))

    conn.execute(
        update(replicas)
        .where(
            replicas.c.hash.in_(used_by(public=False)), replicas.c.hash.not_in(used_by(public=True))
        )
        .values(private=True)
    )
    # A master starting at the same moment may insert it too: ensure_schema retries then.
    conn.execute(settings.insert(), {"name": PRIVATE_COPIES_MARKED, "value": "done"})
    return True


# Run after the master's tables and columns exist (``engine.ensure_schema``).
master_metadata.info["migrations"] = (count_copies, mark_private_copies)
