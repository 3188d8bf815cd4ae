"""The master's durable catalogue: files, their blocks, blobs, replicas and tombstones.

A file is either one blob stored under the file's own hash (every small file, and every
file of the reference API), or a manifest: the ordered blocks of a large file, each a
blob. Blobs are what nodes hold, replication counts and repair copies; a blob that no
file and no upload in progress refers to is deleted (at once when its last file goes,
after a grace period when an upload was abandoned).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from app.metadata.engine import DriverStatement, ensure_schema, write_transaction
from app.metadata.engine import batches as batches  # where the catalogue's modules import it
from app.metadata.schema import (
    blobs,
    catalogue_version,
    file_blocks,
    files,
    fs_entries,
    fs_versions,
    master_metadata,
    pending_deletes,
    recount_copies,
    replicas,
    shares,
    tombstones,
    trash_items,
    upload_blocks,
)
from app.metadata.visibility import inventory_visibility

VERSION_QUERY = "SELECT version FROM catalogue_version WHERE id = 1"
_BUMP = "UPDATE catalogue_version SET version = version + 1 WHERE id = 1"

# True for a blob that a file or an upload in progress still needs.
BLOB_IS_REFERENCED: ColumnElement[bool] = or_(
    exists().where(files.c.hash == blobs.c.hash),
    exists().where(file_blocks.c.block_hash == blobs.c.hash),
    exists().where(upload_blocks.c.hash == blobs.c.hash),
)


# True for a private file that some user's file, version, trash entry or share uses.
FILE_IS_REFERENCED: ColumnElement[bool] = or_(
    exists().where(fs_entries.c.file_hash == files.c.hash),
    exists().where(fs_versions.c.file_hash == files.c.hash),
    exists().where(trash_items.c.file_hash == files.c.hash),
    exists().where(shares.c.file_hash == files.c.hash),
)


def bump_catalogue_version(conn: Connection) -> None:
    """Mark, inside a write transaction, that files, blobs or replicas changed."""
    cursor = conn.connection.cursor()  # the driver's: see DriverStatement
    try:
        cursor.execute(_BUMP)
    finally:
        cursor.close()


_FILE_ROW = ("hash", "name", "size", "created_at", "updated_at", "block_size", "public")


def _file_row(
    file_hash: str, name: str, size: int, now: float, block_size: int = 0, public: bool = True
) -> dict[str, Any]:
    return {
        "hash": file_hash,
        "name": name,
        "size": size,
        "created_at": now,
        "updated_at": now,
        "block_size": block_size,
        "public": public,
    }


@dataclass(frozen=True)
class Block:
    """One blob of a file, where it starts in the file, and the nodes holding it."""

    hash: str
    size: int
    offset: int
    replicas: tuple[str, ...] = ()
    # Those of ``replicas`` whose copy is private (``replicas.private``).
    hidden: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileRecord:
    hash: str
    name: str
    size: int
    # Nodes holding the file's blob, or, for a manifest, any of its blocks.
    replicas: tuple[str, ...] = field(default=())
    # A manifest's blocks in order; empty for a file stored as one blob.
    blocks: tuple[Block, ...] = field(default=())
    block_size: int = 0
    # In the global catalogue (see the schema); False for content of the user API only.
    public: bool = True
    # Those of ``replicas`` whose copy of the file's own blob is private.
    hidden: tuple[str, ...] = ()

    @property
    def parts(self) -> tuple[Block, ...]:
        """The blobs to read, in order: the blocks, or the file's own blob."""
        return self.blocks or (Block(self.hash, self.size, 0, self.replicas, self.hidden),)

    def public_view(self) -> FileRecord:
        """The record without its private copies: what the global catalogue shows and
        reads. A private copy is there for the per-user API; through a public record (one
        ``/register`` made, say) it would tell who holds what, and serve it."""
        if not self.hidden and not any(block.hidden for block in self.blocks):
            return self
        blocks = tuple(
            replace(b, replicas=tuple(n for n in b.replicas if n not in b.hidden), hidden=())
            for b in self.blocks
        )
        if blocks:
            replicas = tuple(sorted({node for block in blocks for node in block.replicas}))
        else:
            replicas = tuple(node for node in self.replicas if node not in self.hidden)
        return replace(self, replicas=replicas, blocks=blocks, hidden=())

    def to_dict(self) -> dict[str, Any]:
        """Render the reference's FileInfo shape (plus the block count of a manifest)."""
        info: dict[str, Any] = {
            "hash": self.hash,
            "name": self.name,
            "size": self.size,
            "replicas": list(self.replicas),
        }
        if self.blocks:
            info["blocks"] = len(self.blocks)
            info["block_size"] = self.block_size
        return info


@dataclass(frozen=True)
class HeldCopy:
    """One blob a node reports holding, as its inventory describes it."""

    hash: str
    name: str
    size: int
    kind: str = "file"
    private: bool = False  # the node serves it only through a signed URL


@dataclass(frozen=True)
class PurgedBlob:
    """A blob forgotten by the catalogue, and the nodes that still hold a copy of it."""

    hash: str
    replicas: tuple[str, ...]


class MetadataStore:
    """Files, blobs and replicas in SQL; every method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ensure_schema(master_metadata, engine)
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self.insert = dialect.insert
        with write_transaction(engine) as conn:
            conn.execute(
                dialect.insert(catalogue_version).on_conflict_do_nothing(),
                {"id": 1, "version": 0},
            )
            # Catalogues from before blocks (#5) had files but no blobs: each such file
            # is its own blob. Once any blob exists there is nothing to do (and no scan
            # of the files at every worker's start).
            if conn.execute(select(blobs.c.hash).limit(1)).first() is None:
                backfill = dialect.insert(blobs).from_select(
                    ["hash", "size", "created_at", "referenced_at"],
                    select(
                        files.c.hash, files.c.size, files.c.created_at, files.c.updated_at
                    ).where(files.c.block_size == 0),
                )
                # Another master starting at the same moment may have done it already.
                conn.execute(backfill.on_conflict_do_nothing())
                recount_copies(conn)
        # Built once: constructing a Core statement costs more than running it on SQLite.
        # Those of the registration path run on the driver's cursor (see DriverStatement).
        upsert_file = dialect.insert(files)
        self._upsert_file = DriverStatement(
            engine,
            upsert_file.on_conflict_do_update(
                index_elements=[files.c.hash],
                set_={
                    # A private upload never renames content others know under a name.
                    "name": case(
                        (upsert_file.excluded.public, upsert_file.excluded.name), else_=files.c.name
                    ),
                    "size": upsert_file.excluded.size,
                    "updated_at": upsert_file.excluded.updated_at,
                    # Content that becomes public stays so; a private upload never hides it.
                    "public": or_(files.c.public, upsert_file.excluded.public),
                },
            ),
            _FILE_ROW,
        )
        self._insert_file_if_new = dialect.insert(files).on_conflict_do_nothing(
            index_elements=[files.c.hash]
        )
        upsert_blob = dialect.insert(blobs)
        self._upsert_blob = DriverStatement(
            engine,
            upsert_blob.on_conflict_do_update(
                index_elements=[blobs.c.hash],
                set_={"referenced_at": upsert_blob.excluded.referenced_at},
            ),
            ("hash", "size", "created_at", "referenced_at", "copies"),
        )
        upsert_replica = dialect.insert(replicas)
        self._upsert_replica = DriverStatement(
            engine,
            upsert_replica.on_conflict_do_update(
                index_elements=[replicas.c.hash, replicas.c.node],
                set_={
                    "confirmed_at": upsert_replica.excluded.confirmed_at,
                    # A copy made public stays so, as the node keeps it (see the schema).
                    "private": and_(replicas.c.private, upsert_replica.excluded.private),
                },
            ),
            ("hash", "node", "confirmed_at", "private"),
        )
        one_hash: BindParameter[str] = bindparam("hash")
        self._forget_tombstone = DriverStatement(
            engine, delete(tombstones).where(tombstones.c.hash == one_hash)
        )
        self._forget_pending_delete = DriverStatement(
            engine, delete(pending_deletes).where(pending_deletes.c.hash == one_hash)
        )
        self._select_file = select(
            files.c.hash, files.c.name, files.c.size, files.c.block_size, files.c.public
        ).where(files.c.hash == bindparam("file_hash"))
        self._select_replicas = (
            select(replicas.c.node, replicas.c.private)
            .where(replicas.c.hash == bindparam("file_hash"))
            .order_by(replicas.c.node)
        )
        self._select_blocks = (
            select(file_blocks.c.block_hash, file_blocks.c.size)
            .where(file_blocks.c.file_hash == bindparam("file_hash"))
            .order_by(file_blocks.c.seq)
        )
        self._select_block_replicas = (
            select(replicas.c.hash, replicas.c.node, replicas.c.private)
            .join(file_blocks, file_blocks.c.block_hash == replicas.c.hash)
            .where(file_blocks.c.file_hash == bindparam("file_hash"))
            .distinct()
            .order_by(replicas.c.node)
        )
        # Prebuilt with an expanding parameter: a statement built around a list of
        # values costs more to construct and key for the cache than SQLite takes to run
        # it (a third of the master's registration time).
        some_hashes: BindParameter[Any] = bindparam("hashes", expanding=True)
        self._select_known_blobs = select(blobs.c.hash).where(blobs.c.hash.in_(some_hashes))
        self._select_copies_of = (
            select(replicas.c.hash, replicas.c.node)
            .where(replicas.c.hash.in_(some_hashes))
            .order_by(replicas.c.node)
        )
        self._select_public_copies_of = self._select_copies_of.where(~replicas.c.private)

    # ----- writes -----

    def register(self, record: FileRecord, *, created_on: Sequence[str] = ()) -> FileRecord:
        """Create or update a file stored as one blob; replicas add to those known.

        A large file already known by its manifest keeps the manifest (the blob is
        another, equally valid copy of its bytes). ``created_on``: see ``add_blobs``.
        """
        now = time.time()
        with write_transaction(self.engine) as conn:
            self.add_blobs(
                conn,
                [(record.hash, record.size)],
                record.replicas,
                now,
                private=not record.public,
                created_on=created_on,
            )
            self._upsert_file.run(
                conn,
                [_file_row(record.hash, record.name, record.size, now, public=record.public)],
            )
            merged = self._get(conn, record.hash)
        assert merged is not None
        return merged

    def register_copies(self, node_id: str, copies: Sequence[HeldCopy]) -> None:
        """Record, in one transaction, copies a node just stored: whole files (created or
        renamed, as ``register`` does) and blocks. A private copy (a repair copy of
        one, say) adds a copy, never a file to the global catalogue."""
        if not copies:
            return
        now = time.time()
        private: dict[str, bool] = {}
        for copy in copies:
            private[copy.hash] = private.get(copy.hash, True) and copy.private
        with write_transaction(self.engine) as conn:
            self.add_blobs(
                conn, [(c.hash, c.size) for c in copies], [node_id], now, private=private
            )
            named = {c.hash: c for c in copies if c.kind == "file" and not c.private}
            self._upsert_file.run(
                conn, [_file_row(c.hash, c.name, c.size, now) for c in named.values()]
            )

    def register_blob(
        self,
        blob_hash: str,
        size: int,
        node_ids: Sequence[str],
        *,
        private: bool = False,
        created_on: Sequence[str] = (),
    ) -> None:
        """Record copies of a block: a blob that is not (yet) a file of its own."""
        with write_transaction(self.engine) as conn:
            self.add_blobs(
                conn,
                [(blob_hash, size)],
                node_ids,
                time.time(),
                private=private,
                created_on=created_on,
            )

    def add_blobs(
        self,
        conn: Connection,
        sized: Sequence[tuple[str, int]],
        node_ids: Iterable[str],
        now: float,
        *,
        private: bool | Mapping[str, bool] = False,
        created_on: Sequence[str] = (),
    ) -> None:
        """Upsert blobs (touching their reference time) and copies of them on ``node_ids``,
        ``private`` (for all of them, or by hash) unless they were public already, or
        for sure on ``created_on``: nodes that had no copy before this write, so that a
        row for them (a claim ``/register`` made) says nothing of theirs.

        Storing content again after a delete brings it back on purpose, and the copies
        that nodes away at the delete still hold are wanted again: a node told to drop
        its copy would leave the master counting a copy that is gone.
        """
        bump_catalogue_version(conn)
        rows = [
            {"hash": h, "size": s, "created_at": now, "referenced_at": now, "copies": 0}
            for h, s in sized
        ]
        self._upsert_blob.run(conn, rows)
        hashes = [h for h, _size in sized]
        self._confirm_replicas(conn, hashes, node_ids, now, private)
        if created_on and private is True:
            conn.execute(
                update(replicas)
                .where(replicas.c.hash.in_(hashes), replicas.c.node.in_(list(created_on)))
                .values(private=True)
            )
        self._forget_tombstone.run(conn, rows)
        self._forget_pending_delete.run(conn, rows)

    def add_manifest(
        self, conn: Connection, record: FileRecord, blocks: Sequence[tuple[str, int]], now: float
    ) -> None:
        """Create a large file from blocks already in the catalogue (or rename it)."""
        bump_catalogue_version(conn)
        exists_already = conn.execute(self._select_file, {"file_hash": record.hash}).first()
        self._upsert_file.run(
            conn,
            [
                _file_row(
                    record.hash, record.name, record.size, now, record.block_size, record.public
                )
            ],
        )
        if exists_already is not None:
            # Content proven public (every block not readable already was sent, and the
            # whole was checked) replaces a private manifest cut otherwise: that one's
            # blocks may have only private copies, which public reads leave alone.
            if not record.public or exists_already.public:
                return
            params = {"file_hash": record.hash}
            if [tuple(row) for row in conn.execute(self._select_blocks, params)] == list(blocks):
                return
            conn.execute(delete(file_blocks).where(file_blocks.c.file_hash == record.hash))
        conn.execute(
            file_blocks.insert(),
            [
                {"file_hash": record.hash, "seq": seq, "block_hash": h, "size": s}
                for seq, (h, s) in enumerate(blocks)
            ],
        )
        for chunk in batches([h for h, _size in blocks]):
            conn.execute(update(blobs).where(blobs.c.hash.in_(chunk)).values(referenced_at=now))

    def rename(self, file_hash: str, name: str) -> FileRecord | None:
        """Give a known file a new name; None if there is no such file."""
        with write_transaction(self.engine) as conn:
            bump_catalogue_version(conn)
            conn.execute(
                update(files)
                .where(files.c.hash == file_hash)
                .values(name=name, updated_at=time.time())
            )
            return self._get(conn, file_hash)

    def confirm_inventory(self, node_id: str, items: Sequence[HeldCopy]) -> list[str]:
        """Record that ``node_id`` holds ``items``; answer the hashes it should drop.

        Blobs deleted meanwhile are to be dropped, not resurrected. A whole file the
        catalogue has never seen (say, after the master lost its database) is created
        under the name the node knows; blocks cannot be, without their manifest.
        """
        if not items:
            return []
        now = time.time()
        hashes = [item.hash for item in items]
        with write_transaction(self.engine) as conn:
            bump_catalogue_version(conn)
            deleted: set[str] = set()
            known: set[str] = set()
            for chunk in batches(hashes):
                deleted.update(
                    conn.execute(
                        select(tombstones.c.hash).where(tombstones.c.hash.in_(chunk))
                    ).scalars()
                )
                known.update(
                    conn.execute(self._select_known_blobs, {"hashes": list(chunk)}).scalars()
                )
            kept = [item for item in items if item.hash not in deleted]
            if not kept:
                return sorted(deleted)
            private = inventory_visibility(
                conn, node_id, [(item.hash, item.private) for item in kept], known
            )
            conn.execute(
                self.insert(blobs).on_conflict_do_nothing(index_elements=[blobs.c.hash]),
                [
                    {"hash": i.hash, "size": i.size, "created_at": now, "referenced_at": now}
                    for i in kept
                ],
            )
            new_files = [
                i for i in kept if i.hash not in known and i.kind == "file" and not i.private
            ]
            if new_files:
                conn.execute(
                    self._insert_file_if_new,
                    [_file_row(i.hash, i.name, i.size, now) for i in new_files],
                )
            self._confirm_replicas(conn, [item.hash for item in kept], [node_id], now, private)
        return sorted(deleted)

    def delete_file(self, file_hash: str) -> tuple[FileRecord, list[PurgedBlob]] | None:
        """Forget a file; purge the blobs nothing else needs (tombstoned); None if unknown.

        Content that users' files still use only leaves the global catalogue.
        """
        now = time.time()
        with write_transaction(self.engine) as conn:
            bump_catalogue_version(conn)
            record = self._get(conn, file_hash)
            if record is None:
                return None
            used = conn.execute(
                select(FILE_IS_REFERENCED).where(files.c.hash == file_hash)
            ).scalar_one()
            if used:
                conn.execute(
                    update(files)
                    .where(files.c.hash == file_hash)
                    .values(public=False, updated_at=now)
                )
                return record, []
            conn.execute(delete(files).where(files.c.hash == file_hash))
            candidates = list(dict.fromkeys(part.hash for part in record.parts))
            purged = self._purge(conn, candidates, now, len(candidates))
        return record, purged

    def collect_garbage(
        self, referenced_before: float, limit: int, hashes: Sequence[str] | None = None
    ) -> list[PurgedBlob]:
        """Purge up to ``limit`` blobs (any, or among ``hashes``) unreferenced since
        ``referenced_before``."""
        with write_transaction(self.engine) as conn:
            bump_catalogue_version(conn)
            return self._purge(conn, hashes, referenced_before, limit)

    def prune_replicas(self, node_id: str, confirmed_before: float) -> int:
        """Forget copies on ``node_id`` that it did not confirm since ``confirmed_before``."""
        with write_transaction(self.engine) as conn:
            bump_catalogue_version(conn)
            result = conn.execute(
                delete(replicas).where(
                    replicas.c.node == node_id, replicas.c.confirmed_at < confirmed_before
                )
            )
        return int(result.rowcount)

    # ----- reads -----

    def get(self, file_hash: str) -> FileRecord | None:
        """Return the file registered under ``file_hash``, or None."""
        with self.engine.connect() as conn:
            return self._get(conn, file_hash)

    def list_files(self) -> list[FileRecord]:
        """Return every public file with the nodes holding it (or its blocks), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(files.c.hash, files.c.name, files.c.size, files.c.block_size)
                .where(files.c.public)
                .order_by(files.c.created_at, files.c.hash)
            ).all()
            holders: dict[str, set[str]] = {row.hash: set() for row in rows}
            # Public copies only, as ``FileRecord.public_view`` shows them.
            own = select(replicas.c.hash, replicas.c.node).where(~replicas.c.private)
            through_blocks = (
                select(file_blocks.c.file_hash, replicas.c.node)
                .join(replicas, replicas.c.hash == file_blocks.c.block_hash)
                .where(~replicas.c.private)
                .distinct()
            )
            for query in (own, through_blocks):
                for file_hash, node in conn.execute(query):
                    if file_hash in holders:
                        holders[file_hash].add(node)
        return [
            FileRecord(r.hash, r.name, r.size, tuple(sorted(holders[r.hash])), (), r.block_size)
            for r in rows
        ]

    def count_files(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(files)).scalar_one())

    def collect_files(self, unreferenced_since: float, limit: int) -> list[PurgedBlob]:
        """Delete private files no user refers to any more (since ``unreferenced_since``),
        then the blobs nothing else needs; return those blobs."""
        now = time.time()
        with write_transaction(self.engine) as conn:
            bump_catalogue_version(conn)
            doomed = (
                ~files.c.public & ~FILE_IS_REFERENCED & (files.c.updated_at <= unreferenced_since)
            )
            hashes = list(conn.execute(select(files.c.hash).where(doomed).limit(limit)).scalars())
            if not hashes:
                return []
            parts: list[str] = []
            for file_hash in hashes:
                record = self._get(conn, file_hash)
                if record is not None:
                    parts += [part.hash for part in record.parts]
            conn.execute(delete(files).where(files.c.hash.in_(hashes), doomed))
            candidates = list(dict.fromkeys(parts))
            return self._purge(conn, candidates, now, len(candidates))

    def blob_copies(
        self, hashes: Sequence[str], *, public_only: bool = False
    ) -> dict[str, tuple[str, ...]]:
        """Return the nodes holding each known blob among ``hashes`` (absent: unknown);
        with ``public_only``, only those whose copy any client may read by its hash."""
        found: dict[str, list[str]] = {}
        if not hashes:
            return {}
        copies_of = self._select_public_copies_of if public_only else self._select_copies_of
        with self.engine.connect() as conn:
            for chunk in batches(list(dict.fromkeys(hashes))):
                params = {"hashes": list(chunk)}
                for blob_hash in conn.execute(self._select_known_blobs, params).scalars():
                    found[blob_hash] = []
                for blob_hash, node in conn.execute(copies_of, params):
                    found[blob_hash].append(node)
        return {h: tuple(nodes) for h, nodes in found.items()}

    # ----- internals -----

    def _purge(
        self, conn: Connection, hashes: Sequence[str] | None, cutoff: float, limit: int
    ) -> list[PurgedBlob]:
        """Delete unreferenced blobs (all, or among ``hashes``) and tombstone them.

        The DELETE re-checks the condition its SELECT used: on PostgreSQL an upload may
        take a reference in between, and then the blob stays.
        """
        doomed = ~BLOB_IS_REFERENCED & (blobs.c.referenced_at <= cutoff)
        query = select(blobs.c.hash).where(doomed).order_by(blobs.c.hash).limit(limit)
        if hashes is not None:
            query = query.where(blobs.c.hash.in_(list(hashes)))
        candidates = list(conn.execute(query).scalars())
        if not candidates:
            return []
        copies: dict[str, list[str]] = {h: [] for h in candidates}
        for blob_hash, node in conn.execute(
            select(replicas.c.hash, replicas.c.node).where(replicas.c.hash.in_(candidates))
        ):
            copies[blob_hash].append(node)
        gone = conn.execute(
            delete(blobs).where(blobs.c.hash.in_(candidates), doomed).returning(blobs.c.hash)
        ).scalars()
        purged = [PurgedBlob(h, tuple(sorted(copies[h]))) for h in sorted(gone)]
        if purged:
            conn.execute(
                self.insert(tombstones).on_conflict_do_nothing(),
                [{"hash": blob.hash, "deleted_at": cutoff} for blob in purged],
            )
        return purged

    def _confirm_replicas(
        self,
        conn: Connection,
        hashes: Sequence[str],
        node_ids: Iterable[str],
        now: float,
        private: bool | Mapping[str, bool] = False,
    ) -> None:
        rows = [
            {
                "hash": blob_hash,
                "node": node_id,
                "confirmed_at": now,
                "private": private if isinstance(private, bool) else private[blob_hash],
            }
            for blob_hash in hashes
            for node_id in dict.fromkeys(node_ids)
        ]
        self._upsert_replica.run(conn, rows)

    def _get(self, conn: Connection, file_hash: str) -> FileRecord | None:
        params = {"file_hash": file_hash}
        row = conn.execute(self._select_file, params).first()
        if row is None:
            return None
        if not row.block_size:
            copies = conn.execute(self._select_replicas, params).all()
            holders = tuple(node for node, _private in copies)
            hidden = tuple(node for node, private in copies if private)
            return FileRecord(
                row.hash, row.name, row.size, holders, public=row.public, hidden=hidden
            )
        by_block: dict[str, list[str]] = {}
        hidden_by_block: dict[str, list[str]] = {}
        for block_hash, node, private in conn.execute(self._select_block_replicas, params):
            by_block.setdefault(block_hash, []).append(node)
            if private:
                hidden_by_block.setdefault(block_hash, []).append(node)
        blocks = []
        offset = 0
        for block_hash, size in conn.execute(self._select_blocks, params):
            held = tuple(by_block.get(block_hash, ()))
            hidden = tuple(hidden_by_block.get(block_hash, ()))
            blocks.append(Block(block_hash, size, offset, held, hidden))
            offset += size
        holders = tuple(sorted({node for nodes in by_block.values() for node in nodes}))
        return FileRecord(
            row.hash, row.name, row.size, holders, tuple(blocks), row.block_size, row.public
        )
