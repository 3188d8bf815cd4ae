"""Snapshots of the master's user trees and catalogue of files: taken, listed, restored.

A snapshot is a gzipped SQLite database holding the tables a master cannot learn from
its nodes (``KEPT``: accounts, their tokens, entries, versions, trash, shares, and the
files with their blocks and manifests, private ones included). From SQLite it is taken
with SQLite's online backup (one consistent read of the whole database, while writers
go on), then the other tables are dropped; from PostgreSQL the same rows are copied, in
one repeatable-read transaction, into a SQLite file of the same tables. Copies, nodes,
uploads in progress and the open mode's signing key are left out: the nodes' inventories
bring the copies back, and the rest is a master's own.

It also keeps each user's change-feed head as its read saw it (``feed_heads``, not
restored as rows, not fingerprinted: trimming moves it): which changes it holds, for
the journal's replay to make exactly the others again, and where each user's feed must
go on past. A snapshot of an older master has none (``RestoreReport.feed_heads`` None).

A snapshot holds password hashes and token hashes: it is as secret as the database, and
stored on the nodes as a private blob (``app.master.snapshots``), or as private blocks
and a manifest listing them when it is larger than a block
(``app.metadata.snapshot_manifests``).
"""

from __future__ import annotations

import gzip
import hashlib
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, delete, func, select

from app.errors import InvalidSnapshot
from app.metadata.account_schema import (
    api_tokens,
    feed_heads,
    fs_entries,
    fs_versions,
    shares,
    trash,
    trash_items,
    users,
)
from app.metadata.catalogue_schema import blobs, file_blocks, files
from app.metadata.catalogue_version import bump_catalogue_version
from app.metadata.changes import feed_positions, restart_feeds
from app.metadata.engine import advance_id_sequence, dialect_insert, write_transaction
from app.metadata.recovery_schema import manifests, snapshot_blocks, snapshots
from app.metadata.schema import master_metadata

# Parents before children: the order rows are restored in.
CATALOGUE = (blobs, files, file_blocks, manifests)
TREES = (users, api_tokens, fs_entries, fs_versions, trash, trash_items, shares)
KEPT: tuple[Table, ...] = CATALOGUE + TREES
# What a snapshot holds: KEPT, and each user's feed head as the same read saw it. The
# heads live in the snapshot's own file, in the one consistent read that the rows come
# from (a table of their own would be a second read, not ordered with the first).
TAKEN: tuple[Table, ...] = KEPT + (feed_heads,)
# What a change of means a new snapshot (a blob's reference time moves on its own).
FINGERPRINTED = tuple(t for t in KEPT if t is not blobs)
ROWS_PER_BATCH = 5_000


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot kept: its bytes' hash and size; ``manifest``, the blob listing its
    blocks ("": it is one blob, at ``hash``)."""

    hash: str
    taken_at: float
    size: int
    manifest: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RestoreReport:
    """What a snapshot brought back: rows of the user trees, and files new to the
    catalogue; ``feed_heads``, each user's feed head the snapshot holds the changes up to
    (None: a snapshot of an older master, which did not keep them)."""

    users: int
    entries: int
    versions: int
    trash: int
    shares: int
    files: int
    feed_heads: dict[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        del found["feed_heads"]  # one number per user: the journal's, not a report's
        return found


# The endings of a snapshot's blob's name: its bytes, or the manifest of its blocks.
WHOLE, LISTED = ".db.gz", ".blocks.json"


def snapshot_name(taken_at: float, *, blocks: bool = False) -> str:
    """The name a snapshot's blob has on the nodes: what tells a rebuilt master its time,
    and with ``blocks`` that the blob is the manifest of its blocks."""
    return f"snapshot-{taken_at:.3f}{LISTED if blocks else WHOLE}"


def parse_snapshot_name(name: str) -> tuple[float, bool] | None:
    """(time, is a manifest of blocks) of a snapshot's name, or None for a name
    ``snapshot_name`` did not make."""
    for ending, blocks in ((WHOLE, False), (LISTED, True)):
        if name.startswith("snapshot-") and name.endswith(ending):
            try:
                return float(name[len("snapshot-") : -len(ending)]), blocks
            except ValueError:
                return None
    return None


def take_snapshot(engine: Engine) -> tuple[bytes, str]:
    """A consistent snapshot of ``engine``'s database: (gzipped SQLite bytes, fingerprint
    of its rows, which stays the same while nothing kept changed)."""
    with tempfile.TemporaryDirectory(prefix="mdbx-snapshot-") as folder:
        path = Path(folder) / "snapshot.db"
        if engine.dialect.name == "sqlite":
            _backup_sqlite(engine, path)
        else:
            _copy_rows(engine, path)
        fingerprint = _fingerprint(path)
        return gzip.compress(path.read_bytes(), compresslevel=6), fingerprint


def _backup_sqlite(engine: Engine, path: Path) -> None:
    source_path = engine.url.database
    if not source_path or source_path == ":memory:":
        raise ValueError("an in-memory database has no file to back up")
    source = sqlite3.connect(source_path)
    target = sqlite3.connect(path)
    try:
        source.backup(target)  # all pages in one step: one read transaction, consistent
        kept = {table.name for table in TAKEN}
        names = [
            row[0]
            for row in target.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not row[0].startswith("sqlite_")
        ]
        target.execute("PRAGMA journal_mode=DELETE")
        for name in names:
            if name not in kept:
                target.execute(f'DROP TABLE "{name}"')
        target.commit()
        target.execute("VACUUM")
    finally:
        source.close()
        target.close()


def _copy_rows(engine: Engine, path: Path) -> None:
    target = create_engine(f"sqlite:///{path}")
    try:
        master_metadata.create_all(target, tables=list(TAKEN))
        reading = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        with reading as source, target.begin() as into:
            for table in TAKEN:
                for rows in _batches_of(source, table):
                    into.execute(table.insert(), rows)
    finally:
        target.dispose()


def _batches_of(conn: Connection, table: Table) -> Iterator[list[dict[str, Any]]]:
    result = conn.execution_options(stream_results=True).execute(select(table))
    while batch := result.fetchmany(ROWS_PER_BATCH):
        yield [dict(row._mapping) for row in batch]


def _fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    conn = sqlite3.connect(path)
    try:
        for table in FINGERPRINTED:
            columns = ", ".join(f'"{c.name}"' for c in table.columns)
            digest.update(table.name.encode())
            for row in conn.execute(f'SELECT {columns} FROM "{table.name}" ORDER BY {columns}'):
                digest.update(repr(row).encode())
    finally:
        conn.close()
    return digest.hexdigest()


def restore_snapshot(engine: Engine, data: bytes) -> RestoreReport:
    """Replace the user trees with a snapshot's, and add the files it knows that the
    catalogue lacks; one transaction. InvalidSnapshot for bytes that are not one."""
    try:
        raw = gzip.decompress(data)
    except (OSError, EOFError) as exc:
        raise InvalidSnapshot(f"not a gzipped snapshot: {exc}") from exc
    if not raw.startswith(b"SQLite format 3\x00"):
        raise InvalidSnapshot("not an SQLite database")
    with tempfile.TemporaryDirectory(prefix="mdbx-restore-") as folder:
        path = Path(folder) / "snapshot.db"
        path.write_bytes(raw)
        source = create_engine(f"sqlite:///{path}")
        try:
            with source.connect() as reading:
                return _restore_from(engine, reading)
        finally:
            source.dispose()


def _restore_from(engine: Engine, source: Connection) -> RestoreReport:
    present = set(source.dialect.get_table_names(source))
    missing = [t.name for t in (users, files) if t.name not in present]
    if missing:
        raise InvalidSnapshot(f"not a snapshot: no table {', '.join(missing)}")
    insert = dialect_insert(engine)
    now = time.time()
    with write_transaction(engine) as conn:
        bump_catalogue_version(conn)
        files_before = conn.execute(select(func.count()).select_from(files)).scalar_one()
        feeds = feed_positions(conn)  # gone with their users below
        heads = _heads_of(source, present)
        # Children first, should the database not cascade; then the snapshot's rows.
        for table in reversed(TREES):
            conn.execute(delete(table))
        for table in KEPT:
            if table.name not in present:
                continue
            shared = _shared_columns(source, table)
            for rows in _batches_of_columns(source, table, shared):
                if table is blobs:
                    rows = [{**row, "copies": 0, "referenced_at": now} for row in rows]
                statement = insert(table)
                if table in CATALOGUE:
                    # Files the nodes brought back already are the same content.
                    statement = statement.on_conflict_do_nothing()
                conn.execute(statement, rows)
        restart_feeds(conn, feeds, heads or {})
        for table in (users, fs_versions):
            advance_id_sequence(conn, table)

        def count(table: Table) -> int:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

        return RestoreReport(
            users=count(users),
            entries=count(fs_entries),
            versions=count(fs_versions),
            trash=count(trash),
            shares=count(shares),
            files=count(files) - int(files_before),
            feed_heads=heads,
        )


def _heads_of(source: Connection, present: set[str]) -> dict[int, int] | None:
    """Each user's feed head a snapshot holds; None for one without them."""
    if feed_heads.name not in present:
        return None
    rows = source.execute(select(feed_heads.c.user_id, feed_heads.c.seq)).all()
    return {int(row.user_id): int(row.seq) for row in rows}


def _shared_columns(source: Connection, table: Table) -> list[str]:
    """The columns of ``table`` the snapshot has too (it may be of an older master)."""
    theirs = {c["name"] for c in source.dialect.get_columns(source, table.name)}
    return [c.name for c in table.columns if c.name in theirs]


def _batches_of_columns(
    source: Connection, table: Table, columns: list[str]
) -> Iterator[list[dict[str, Any]]]:
    result = source.execute(select(*(table.c[name] for name in columns)))
    while batch := result.fetchmany(ROWS_PER_BATCH):
        yield [dict(row._mapping) for row in batch]


# ----- the snapshots kept on the nodes -----


def record_snapshot(
    engine: Engine, info: SnapshotInfo, blocks: Sequence[tuple[str, int]] = ()
) -> None:
    """Note a snapshot (taken here, or reported by a node) and the ``blocks`` it is stored
    as, if any; a known one is a no-op."""
    insert = dialect_insert(engine)
    with write_transaction(engine) as conn:
        conn.execute(
            insert(snapshots).on_conflict_do_nothing(),
            {
                "hash": info.hash,
                "taken_at": info.taken_at,
                "size": info.size,
                "manifest_hash": info.manifest,
            },
        )
        if blocks:
            conn.execute(
                insert(snapshot_blocks).on_conflict_do_nothing(),
                [
                    {"snapshot_hash": info.hash, "seq": seq, "block_hash": h, "size": size}
                    for seq, (h, size) in enumerate(blocks)
                ],
            )


def snapshot_blocks_of(engine: Engine, digest: str) -> list[tuple[str, int]]:
    """The blocks of the snapshot ``digest`` in order (none: it is one blob)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(snapshot_blocks.c.block_hash, snapshot_blocks.c.size)
            .where(snapshot_blocks.c.snapshot_hash == digest)
            .order_by(snapshot_blocks.c.seq)
        ).all()
    return [(row.block_hash, row.size) for row in rows]


def known_snapshot_manifests(engine: Engine, hashes: Sequence[str]) -> set[str]:
    """Those of ``hashes`` that are the manifest of a snapshot known."""
    if not hashes:
        return set()
    with engine.connect() as conn:
        return set(
            conn.execute(
                select(snapshots.c.manifest_hash).where(snapshots.c.manifest_hash.in_(hashes))
            ).scalars()
        )


def list_snapshots(engine: Engine) -> list[SnapshotInfo]:
    """The snapshots known, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                snapshots.c.hash, snapshots.c.taken_at, snapshots.c.size, snapshots.c.manifest_hash
            ).order_by(snapshots.c.taken_at.desc())
        ).all()
    return [SnapshotInfo(r.hash, r.taken_at, r.size, r.manifest_hash) for r in rows]


def prune_snapshots(engine: Engine, keep: int) -> int:
    """Forget all but the newest ``keep`` snapshots (garbage collection then deletes
    their blobs); return how many were forgotten."""
    with write_transaction(engine) as conn:
        doomed = list(
            conn.execute(
                select(snapshots.c.hash).order_by(snapshots.c.taken_at.desc()).offset(keep)
            ).scalars()
        )
        if doomed:
            conn.execute(delete(snapshot_blocks).where(snapshot_blocks.c.snapshot_hash.in_(doomed)))
            conn.execute(delete(snapshots).where(snapshots.c.hash.in_(doomed)))
    return len(doomed)
