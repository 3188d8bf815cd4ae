"""The master's catalogue of files: names and manifests over the blobs of ``BlobCopies``.

A file is either one blob stored under the file's own hash (every small file, and every
file of the reference API), or a manifest: the ordered blocks of a large file, each a
blob. A blob that no file and no upload in progress refers to is deleted (at once when
its last file goes, after a grace period when an upload was abandoned); content only the
per-user API keeps is deleted once no user refers to it (``app.metadata.collection``).
Nodes' inventories are confirmed here, since they may bring back a file the catalogue
lost. Not to be confused with a node's catalogue of what it holds
(``app.metadata.node_catalogue``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, case, delete, func, or_, select, update

from app.metadata.catalogue_schema import blobs, file_blocks, files, replicas, tombstones
from app.metadata.catalogue_version import bump_catalogue_version
from app.metadata.collection import FILE_IS_REFERENCED, purge_unreferenced
from app.metadata.copies import BlobCopies
from app.metadata.engine import DriverStatement, batches, write_transaction
from app.metadata.records import Block, FileRecord, HeldCopy, PurgedBlob
from app.metadata.recovery_schema import manifests
from app.metadata.visibility import inventory_visibility

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


class FileCatalogue(BlobCopies):
    """Files, their blocks, and the blobs and copies below them, in SQL; every public
    method is one transaction, or runs in the caller's (those that take a connection)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        # Built once, as BlobCopies' statements are.
        upsert_file = self._insert(files)
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
        self._insert_file_if_new = self._insert(files).on_conflict_do_nothing(
            index_elements=[files.c.hash]
        )
        self._select_files = select(
            files.c.hash, files.c.name, files.c.size, files.c.block_size, files.c.public
        )
        self._select_file = self._select_files.where(files.c.hash == bindparam("file_hash"))
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

    def register_many(self, stored: Sequence[tuple[FileRecord, Sequence[str]]]) -> None:
        """``register`` each (record, created_on), all in one transaction (a batch of
        small files): the records stored on the same nodes together."""
        now = time.time()
        alike: dict[tuple[tuple[str, ...], tuple[str, ...], bool], list[FileRecord]] = {}
        for record, created_on in stored:
            key = (record.replicas, tuple(created_on), record.public)
            alike.setdefault(key, []).append(record)
        with write_transaction(self.engine) as conn:
            for (replicas, created_on, public), records in alike.items():
                self.add_blobs(
                    conn,
                    [(record.hash, record.size) for record in records],
                    replicas,
                    now,
                    private=not public,
                    created_on=created_on,
                )
            self._upsert_file.run(
                conn,
                [
                    _file_row(record.hash, record.name, record.size, now, public=record.public)
                    for record, _created_on in stored
                ],
            )

    def register_copies(
        self,
        node_id: str,
        copies: Sequence[HeldCopy],
        also: Sequence[Sequence[str]] = (),
    ) -> None:
        """Record, in one transaction, copies a node just stored: whole files (created or
        renamed, as ``register`` does) and blocks. A private copy (a repair copy of
        one, say) adds a copy, never a file to the global catalogue. ``also``, per copy:
        other nodes that hold it too (the node's peers stored it beside its own)."""
        if not copies:
            return
        now = time.time()
        private: dict[str, bool] = {}
        for copy in copies:
            private[copy.hash] = private.get(copy.hash, True) and copy.private
        # The copies grouped by the nodes that hold them: one upsert per group.
        holders: dict[tuple[str, ...], list[HeldCopy]] = {}
        for index, copy in enumerate(copies):
            others = also[index] if index < len(also) else ()
            key = (node_id, *sorted(set(others) - {node_id}))
            holders.setdefault(key, []).append(copy)
        with write_transaction(self.engine) as conn:
            for node_ids, held in holders.items():
                self.add_blobs(
                    conn, [(c.hash, c.size) for c in held], node_ids, now, private=private
                )
            named = {c.hash: c for c in copies if c.kind == "file" and not c.private}
            self._upsert_file.run(
                conn, [_file_row(c.hash, c.name, c.size, now) for c in named.values()]
            )

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
                self._insert(blobs).on_conflict_do_nothing(index_elements=[blobs.c.hash]),
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
            parts = [part.hash for part in record.parts] + _manifest_blobs(conn, [file_hash])
            conn.execute(delete(files).where(files.c.hash == file_hash))
            candidates = list(dict.fromkeys(parts))
            purged = purge_unreferenced(conn, candidates, now, len(candidates))
        return record, purged

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
            parts += _manifest_blobs(conn, hashes)
            conn.execute(delete(files).where(files.c.hash.in_(hashes), doomed))
            candidates = list(dict.fromkeys(parts))
            return purge_unreferenced(conn, candidates, now, len(candidates))

    # ----- reads -----

    def get(self, file_hash: str) -> FileRecord | None:
        """Return the file registered under ``file_hash``, or None."""
        with self.engine.connect() as conn:
            return self._get(conn, file_hash)

    def get_many(self, file_hashes: Sequence[str]) -> dict[str, FileRecord]:
        """The files registered under those of ``file_hashes`` that are, by hash: those of
        one blob in two queries per ``IN_BATCH`` (a zip of many small files), the others
        as ``get`` reads them."""
        found: dict[str, FileRecord] = {}
        with self.engine.connect() as conn:
            for some in batches(sorted(set(file_hashes))):
                rows = conn.execute(self._select_files.where(files.c.hash.in_(some))).all()
                whole = [row.hash for row in rows if not row.block_size]
                copies: dict[str, list[tuple[str, bool]]] = {hash_: [] for hash_ in whole}
                held = select(replicas.c.hash, replicas.c.node, replicas.c.private)
                for hash_, node, private in conn.execute(
                    held.where(replicas.c.hash.in_(whole)).order_by(replicas.c.node)
                ):
                    copies[hash_].append((node, private))
                for row in rows:
                    if row.block_size:
                        record = self._get(conn, row.hash)
                        if record is not None:
                            found[row.hash] = record
                        continue
                    found[row.hash] = _one_blob_file(row, copies[row.hash])
        return found

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

    # ----- internals -----

    def _get(self, conn: Connection, file_hash: str) -> FileRecord | None:
        params = {"file_hash": file_hash}
        row = conn.execute(self._select_file, params).first()
        if row is None:
            return None
        if not row.block_size:
            return _one_blob_file(row, conn.execute(self._select_replicas, params).all())
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


def _one_blob_file(row: Any, copies: Sequence[tuple[str, bool]]) -> FileRecord:
    """The record of a file stored as one blob, from its row and its (node, private) copies."""
    holders = tuple(node for node, _private in copies)
    hidden = tuple(node for node, private in copies if private)
    return FileRecord(row.hash, row.name, row.size, holders, public=row.public, hidden=hidden)


def _manifest_blobs(conn: Connection, file_hashes: Sequence[str]) -> list[str]:
    """The blobs of these files' manifests: purged with them."""
    return list(
        conn.execute(
            select(manifests.c.blob_hash).where(manifests.c.file_hash.in_(list(file_hashes)))
        ).scalars()
    )
