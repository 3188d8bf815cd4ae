"""A node's own catalogue of the blobs it holds: names, sizes, registration state.

The blob files are the truth about bytes; this catalogue adds what a content address
cannot carry (the name the blob was uploaded under, whether it may be read by its hash
alone) and remembers which copies the master has not acknowledged yet, across restarts.
Not the master's catalogue of files and their copies (``app.metadata.file_catalogue``).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Row, bindparam, func, select, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.exc import DBAPIError

from app.errors import InsufficientStorage
from app.metadata.engine import (
    DriverStatement,
    batches,
    direct_connection,
    ensure_schema,
    write_transaction,
)
from app.metadata.node_schema import held_blobs as blobs
from app.metadata.node_schema import node_metadata
from app.primitives.lru import LRUCache

log = logging.getLogger(__name__)

# SQLite's primary result codes of a write the disk refused: no space left (SQLITE_FULL,
# also past max_page_count) and I/O errors (SQLITE_IOERR and its extended codes).
_STORAGE_FAILURES = (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR)
# Rows kept in memory while the catalogue cannot be written, at most (about 300 bytes
# each); past it the oldest are left to the full sync at the next start.
MAX_DEFERRED_ROWS = 10_000
# Seconds a copy read as public is remembered by a worker. A public copy goes private only
# when the master says so (``hide``, after the node lost its catalogue): the worker that
# hides it forgets it at once, a sibling worker within this time. The lookup it saves was
# a sixth of a node's CPU per small GET.
PUBLIC_TTL = 2.0


@dataclass(frozen=True)
class BlobEntry:
    hash: str
    name: str
    size: int
    registered: bool
    kind: str = "file"  # or "block": one part of a large file
    private: bool = False  # served only through a master-signed URL


@dataclass(frozen=True)
class CatalogueStats:
    blobs: int
    bytes: int
    unregistered: int


def _entry(row: Row[Any]) -> BlobEntry:
    return BlobEntry(row.hash, row.name, row.size, row.registered, row.kind, row.private)


class NodeCatalogue:
    """Blob entries in the node's SQLite database."""

    def __init__(self, engine: Engine, name_cache_size: int = 65_536) -> None:
        self.engine = engine
        ensure_schema(node_metadata, engine)
        # A blob keeps the first name it was stored under, so a cached name never goes stale.
        # Filled by reads only (name_of): a node taking a stream of new blobs would grow it
        # to its bound with names nobody may ask for, about 250 bytes each.
        self._names: LRUCache[str, str] = LRUCache(name_cache_size)
        # Copies read as public, with when (monotonic): see PUBLIC_TTL.
        self._public: LRUCache[str, float] = LRUCache(name_cache_size)
        # Rows of durable blobs that a full disk kept out (see record_durable), with
        # whether the master acknowledged each.
        # (row, acknowledged, private) of each row a full disk kept out of the catalogue.
        self._deferred: list[tuple[tuple[str, str, int, str], bool, bool]] = []
        # Built once: constructing a Core statement costs more than running it on SQLite.
        # The two every upload runs go to the driver's cursor (see DriverStatement).
        new_blob = insert(blobs)
        # A blob keeps the first name and kind it was stored under; a copy the master
        # acknowledged once stays acknowledged, and one made public stays public.
        self._upsert = DriverStatement(
            engine,
            new_blob.on_conflict_do_update(
                index_elements=[blobs.c.hash],
                set_={
                    "registered": func.max(blobs.c.registered, new_blob.excluded.registered),
                    "private": func.min(blobs.c.private, new_blob.excluded.private),
                },
            ),
            ("hash", "name", "size", "stored_at", "registered", "kind", "private"),
        )
        self._select_one = select(blobs).where(blobs.c.hash == bindparam("digest"))
        self._select_name = DriverStatement(
            engine, select(blobs.c.name).where(blobs.c.hash == bindparam("digest"))
        )
        self._select_entry = DriverStatement(
            engine,
            select(
                blobs.c.hash,
                blobs.c.name,
                blobs.c.size,
                blobs.c.registered,
                blobs.c.kind,
                blobs.c.private,
            ).where(blobs.c.hash == bindparam("digest")),
        )
        self._select_private = DriverStatement(
            engine, select(blobs.c.private).where(blobs.c.hash == bindparam("digest"))
        )
        # is_public runs at every read of the fast path: 4 us on a connection of its own,
        # 25 through the engine.
        self._reader = direct_connection(engine)
        self._mark = (
            update(blobs)
            .where(blobs.c.hash.in_(bindparam("digests", expanding=True)))
            .values(registered=True)
        )

    def record(self, digest: str, name: str, size: int, kind: str = "file") -> BlobEntry:
        """Add a blob (the first name and kind it was stored under are kept)."""
        return self.record_many([(digest, name, size, kind)])[0]

    def record_many(
        self,
        blobs_stored: Sequence[tuple[str, str, int, str]],
        registered: Sequence[str] = (),
        private: Sequence[str] = (),
    ) -> list[BlobEntry]:
        """Add blobs (digest, name, size, kind) in one transaction; return their entries.

        ``registered``: the digests among these that the master has acknowledged;
        ``private``: those stored as private copies (public if they were already).
        """
        now = time.time()
        acknowledged = set(registered)
        hidden = set(private)
        with write_transaction(self.engine) as conn:
            self._upsert.run(
                conn,
                [
                    {
                        "hash": digest,
                        "name": name,
                        "size": size,
                        "stored_at": now,
                        "registered": digest in acknowledged,
                        "kind": kind,
                        "private": digest in hidden,
                    }
                    for digest, name, size, kind in blobs_stored
                ],
            )
            # What the rows hold now: a blob stored before keeps its first name and kind.
            entries = []
            for stored in blobs_stored:
                ((digest, name, size, registered, kind, is_private),) = self._select_entry.rows(
                    conn, {"digest": stored[0]}
                )
                entries.append(
                    BlobEntry(digest, name, size, bool(registered), kind, bool(is_private))
                )
        return entries

    def record_durable(
        self,
        blobs_stored: Sequence[tuple[str, str, int, str]],
        registered: Sequence[str] = (),
        private: Sequence[str] = (),
    ) -> list[BlobEntry]:
        """``record_many`` for blobs already durable on disk, whose upload must not fail
        for want of a catalogue row.

        When SQLite cannot write (disk full, I/O error) the rows are kept in memory and
        written first by the next call, and the entries are returned as they will be.
        The catalogue is rebuilt from the blob files anyway: what a lost row costs is
        the name (reads then show the hash) until the full sync of the next start.
        """
        deferred = self._deferred
        try:
            entries = self.record_many(
                [row for row, _ack, _hidden in deferred] + list(blobs_stored),
                registered=[row[0] for row, ack, _hidden in deferred if ack] + list(registered),
                private=[row[0] for row, _ack, hidden in deferred if hidden] + list(private),
            )
        except (sqlite3.Error, DBAPIError) as exc:
            if not _is_storage_failure(exc):
                raise
            acknowledged, hidden = set(registered), set(private)
            deferred.extend((row, row[0] in acknowledged, row[0] in hidden) for row in blobs_stored)
            del deferred[:-MAX_DEFERRED_ROWS]
            log.warning(
                "catalogue not written (%s): %d row(s) kept to write later", exc, len(deferred)
            )
            return [
                self._entry_to_be(row, row[0] in acknowledged, row[0] in hidden)
                for row in blobs_stored
            ]
        if deferred:
            log.info("catalogue written again: %d deferred row(s) caught up", len(deferred))
            deferred.clear()
        return entries[len(entries) - len(blobs_stored) :]

    def _entry_to_be(
        self, row: tuple[str, str, int, str], acknowledged: bool, private: bool
    ) -> BlobEntry:
        """The entry a row will make: the stored one's name and kind if there is one."""
        digest, name, size, kind = row
        current = self.get(digest)  # reads still work on a full disk
        if current is not None:
            registered = current.registered or acknowledged
            return BlobEntry(
                digest, current.name, size, registered, current.kind, current.private and private
            )
        return BlobEntry(digest, name, size, acknowledged, kind, private)

    def record_private(self, digest: str, name: str, size: int, kind: str) -> None:
        """Catalogue a private copy before its blob moves into place (``is_public``).

        Raises InsufficientStorage when the catalogue cannot be written: without its
        row, the blob would be served to anyone.
        """
        self.record_private_many([(digest, name, size, kind)])

    def record_private_many(self, blobs: Sequence[tuple[str, str, int, str]]) -> None:
        """``record_private`` for many (digest, name, size, kind), in one transaction."""
        try:
            self.record_many(blobs, private=[digest for digest, _name, _size, _kind in blobs])
        except (sqlite3.Error, DBAPIError) as exc:
            if not _is_storage_failure(exc):
                raise
            raise InsufficientStorage(
                f"no room in the catalogue to keep a private copy private ({exc})"
            ) from exc

    def get(self, digest: str) -> BlobEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(self._select_one, {"digest": digest}).first()
        return None if row is None else _entry(row)

    def name_of(self, digest: str) -> str | None:
        """Return the name a blob was first stored under, from memory when possible."""
        name = self._names.get(digest)
        if name is None:
            with self.engine.connect() as conn:
                rows = self._select_name.rows(conn, {"digest": digest})
            if not rows:
                return None
            name = rows[0][0]
            self._names.put(digest, name)
        return name

    def is_public(self, digest: str) -> bool:
        """Whether a blob may be served without a signed URL.

        One on disk that the catalogue lacks may: a crash left it uncatalogued after its
        move into place (the full sync reconciles it), and it is never a private copy,
        which is catalogued before it moves into place.
        """
        now = time.monotonic()
        seen = self._public.get(digest)
        if seen is not None and now - seen < PUBLIC_TTL:
            return True
        if self._reader is not None:
            rows = self._reader.execute(self._select_private.sql, {"digest": digest}).fetchall()
        else:
            with self.engine.connect() as conn:
                rows = self._select_private.rows(conn, {"digest": digest})
        if not rows:
            return True  # not remembered: its copy may yet be catalogued private
        if rows[0][0]:
            return False
        self._public.put(digest, now)
        return True

    def hide(self, digests: Iterable[str]) -> int:
        """Make these copies private (the master says they are); return how many changed."""
        batch = list(digests)
        changed = 0
        with write_transaction(self.engine) as conn:
            for chunk in batches(batch):
                changed += conn.execute(
                    update(blobs)
                    .where(blobs.c.hash.in_(list(chunk)), ~blobs.c.private)
                    .values(private=True)
                ).rowcount
        # After the commit, so a concurrent is_public cannot remember a row being hidden.
        for digest in batch:
            self._public.discard(digest)
        return changed

    def mark_registered(self, digests: Iterable[str]) -> None:
        """Record that the master acknowledged these copies."""
        batch = list(digests)
        if not batch:
            return
        with write_transaction(self.engine) as conn:
            for chunk in batches(batch):
                conn.execute(self._mark, {"digests": list(chunk)})

    def remove(self, digests: Iterable[str]) -> int:
        """Drop these blobs' entries (and cached names); return how many rows existed.

        Idempotent. A blob stored again later may carry a new name, so its cached name
        goes too (only in this process: a sibling worker may serve the old name's type).
        """
        batch = list(dict.fromkeys(digests))
        removed = 0
        if not batch:
            return removed
        with write_transaction(self.engine) as conn:
            for start in range(0, len(batch), 500):  # stay under SQLite's variable limit
                chunk = batch[start : start + 500]
                removed += conn.execute(blobs.delete().where(blobs.c.hash.in_(chunk))).rowcount
        # After the commit, so a concurrent name_of cannot re-cache a row being removed.
        for digest in batch:
            self._names.discard(digest)
            self._public.discard(digest)
        return removed

    def pending(self, limit: int) -> list[BlobEntry]:
        """Return up to ``limit`` blobs the master has not acknowledged yet."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(blobs)
                .where(blobs.c.registered.is_(False))
                .order_by(blobs.c.hash)
                .limit(limit)
            ).all()
        return [_entry(r) for r in rows]

    def iter_batches(self, size: int) -> Iterator[list[BlobEntry]]:
        """Yield every entry in hash order, ``size`` at a time (keyset pagination)."""
        after = ""
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(blobs).where(blobs.c.hash > after).order_by(blobs.c.hash).limit(size)
                ).all()
            if not rows:
                return
            yield [_entry(r) for r in rows]
            after = rows[-1].hash

    def stats(self) -> CatalogueStats:
        """Count blobs, bytes stored, and copies the master has not acknowledged."""
        with self.engine.connect() as conn:
            count, total = conn.execute(
                select(func.count(), func.coalesce(func.sum(blobs.c.size), 0))
            ).one()
            pending = conn.execute(
                select(func.count()).where(blobs.c.registered.is_(False))
            ).scalar_one()
        return CatalogueStats(int(count), int(total), int(pending))

    def reconcile(self, on_disk: Iterable[tuple[str, int]]) -> tuple[int, int]:
        """Make the catalogue list exactly the blobs on disk; return (added, removed).

        After a crash between a blob's rename and its catalogue row, or a lost catalogue,
        the disk wins: unknown blobs are added under their hash as name, and rows whose
        file is gone are dropped.
        """
        # Read the rows before walking the disk: a blob stored meanwhile is then at worst
        # added twice (harmless), never dropped as gone.
        with self.engine.connect() as conn:
            known = set(conn.execute(select(blobs.c.hash)).scalars())
        disk = dict(on_disk)
        missing = [digest for digest in disk if digest not in known]
        gone = [digest for digest in known if digest not in disk]
        now = time.time()
        with write_transaction(self.engine) as conn:
            self._upsert.run(
                conn,
                [
                    {
                        "hash": d,
                        "name": d,
                        "size": disk[d],
                        "stored_at": now,
                        "registered": False,
                        "kind": "file",
                        # Not known to be private: the master's answer to the inventory
                        # hides it if it is.
                        "private": False,
                    }
                    for d in missing
                ],
            )
            for digest in gone:
                self._names.discard(digest)
            for start in range(0, len(gone), 500):
                conn.execute(blobs.delete().where(blobs.c.hash.in_(gone[start : start + 500])))
        return len(missing), len(gone)


def _is_storage_failure(exc: BaseException) -> bool:
    """Whether SQLite refused a write for want of disk (or for an I/O error)."""
    error = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in _STORAGE_FAILURES
