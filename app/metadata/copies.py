"""The replicated unit of the master's catalogue: blobs (a whole small file, or one
block of a large one, by SHA-256) and the nodes holding copies of each.

Blobs are what nodes hold, replication counts and repair copies. Every write here
bumps the catalogue's version (``app.metadata.catalogue_version``); the files named over
these blobs are ``FileCatalogue``'s (``app.metadata.file_catalogue``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import BindParameter, Connection, Engine, and_, bindparam, delete, select, update

from app.metadata.catalogue_schema import (
    blobs,
    catalogue_version,
    files,
    pending_deletes,
    replicas,
    tombstones,
)
from app.metadata.catalogue_version import bump_catalogue_version
from app.metadata.collection import purge_unreferenced
from app.metadata.engine import (
    DriverStatement,
    batches,
    dialect_insert,
    ensure_schema,
    write_transaction,
)
from app.metadata.records import PurgedBlob
from app.metadata.schema import master_metadata, recount_copies


class BlobCopies:
    """Blobs and their copies in SQL; every public method is one transaction, or runs in
    the caller's (those that take a connection)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ensure_schema(master_metadata, engine)
        self._insert = insert = dialect_insert(engine)
        with write_transaction(engine) as conn:
            conn.execute(
                insert(catalogue_version).on_conflict_do_nothing(),
                {"id": 1, "version": 0},
            )
            # Catalogues from before blocks (#5) had files but no blobs: each such file
            # is its own blob. Once any blob exists there is nothing to do (and no scan
            # of the files at every worker's start).
            if conn.execute(select(blobs.c.hash).limit(1)).first() is None:
                backfill = insert(blobs).from_select(
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
        upsert_blob = insert(blobs)
        self._upsert_blob = DriverStatement(
            engine,
            upsert_blob.on_conflict_do_update(
                index_elements=[blobs.c.hash],
                set_={"referenced_at": upsert_blob.excluded.referenced_at},
            ),
            ("hash", "size", "created_at", "referenced_at", "copies"),
        )
        upsert_replica = insert(replicas)
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

    def collect_garbage(
        self, referenced_before: float, limit: int, hashes: Sequence[str] | None = None
    ) -> list[PurgedBlob]:
        """Purge up to ``limit`` blobs (any, or among ``hashes``) unreferenced since
        ``referenced_before``."""
        with write_transaction(self.engine) as conn:
            bump_catalogue_version(conn)
            return purge_unreferenced(conn, hashes, referenced_before, limit)

    # ----- reads -----

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
