"""The master's durable file catalogue: files, their replicas, and tombstones."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.metadata.engine import ensure_schema, write_transaction
from app.metadata.schema import (
    catalogue_version,
    files,
    master_metadata,
    pending_deletes,
    replicas,
    tombstones,
)

VERSION_QUERY = "SELECT version FROM catalogue_version WHERE id = 1"
_BUMP = (
    update(catalogue_version)
    .where(catalogue_version.c.id == 1)
    .values(version=catalogue_version.c.version + 1)
)


def bump_catalogue_version(conn: Connection) -> None:
    """Mark, inside a write transaction, that files or replicas changed."""
    conn.execute(_BUMP)


@dataclass(frozen=True)
class FileRecord:
    hash: str
    name: str
    size: int
    replicas: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Render the reference's FileInfo shape."""
        return {
            "hash": self.hash,
            "name": self.name,
            "size": self.size,
            "replicas": list(self.replicas),
        }


class MetadataStore:
    """Files and replicas in SQL; every method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ensure_schema(master_metadata, engine)
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert = dialect.insert
        with write_transaction(engine) as conn:
            conn.execute(
                dialect.insert(catalogue_version).on_conflict_do_nothing(),
                {"id": 1, "version": 0},
            )
        # Built once: constructing a Core statement costs more than running it on SQLite.
        upsert_file = dialect.insert(files)
        self._upsert_file = upsert_file.on_conflict_do_update(
            index_elements=[files.c.hash],
            set_={
                "name": upsert_file.excluded.name,
                "size": upsert_file.excluded.size,
                "updated_at": upsert_file.excluded.updated_at,
            },
        )
        self._insert_file_if_new = dialect.insert(files).on_conflict_do_nothing(
            index_elements=[files.c.hash]
        )
        upsert_replica = dialect.insert(replicas)
        self._upsert_replica = upsert_replica.on_conflict_do_update(
            index_elements=[replicas.c.hash, replicas.c.node],
            set_={"confirmed_at": upsert_replica.excluded.confirmed_at},
        )
        self._select_file = select(files.c.hash, files.c.name, files.c.size).where(
            files.c.hash == bindparam("file_hash")
        )
        self._select_replicas = (
            select(replicas.c.node)
            .where(replicas.c.hash == bindparam("file_hash"))
            .order_by(replicas.c.node)
        )

    def register(self, record: FileRecord) -> FileRecord:
        """Create or update a file; replicas are added to those already known."""
        now = time.time()
        with write_transaction(self.engine) as conn:
            bump_catalogue_version(conn)
            conn.execute(
                self._upsert_file,
                {
                    "hash": record.hash,
                    "name": record.name,
                    "size": record.size,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            self._confirm_replicas(conn, [record.hash], record.replicas, now)
            # Registering content again after a delete brings it back on purpose, and the
            # copies that nodes away at the delete still hold are wanted again: a node told
            # to drop its copy would leave the master counting a copy that is gone.
            conn.execute(delete(tombstones).where(tombstones.c.hash == record.hash))
            conn.execute(delete(pending_deletes).where(pending_deletes.c.hash == record.hash))
            merged = self._get(conn, record.hash)
        assert merged is not None
        return merged

    def get(self, file_hash: str) -> FileRecord | None:
        """Return the file registered under ``file_hash``, or None."""
        with self.engine.connect() as conn:
            return self._get(conn, file_hash)

    def list_files(self) -> list[FileRecord]:
        """Return every file with its replicas, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(files.c.hash, files.c.name, files.c.size).order_by(
                    files.c.created_at, files.c.hash
                )
            ).all()
            by_hash: dict[str, list[str]] = {row.hash: [] for row in rows}
            for replica in conn.execute(
                select(replicas.c.hash, replicas.c.node).order_by(replicas.c.node)
            ):
                if replica.hash in by_hash:
                    by_hash[replica.hash].append(replica.node)
        return [FileRecord(r.hash, r.name, r.size, tuple(by_hash[r.hash])) for r in rows]

    def count_files(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(files)).scalar_one())

    def confirm_inventory(self, node_id: str, items: Sequence[FileRecord]) -> list[str]:
        """Record that ``node_id`` holds ``items``; unknown files are created.

        A name or size already known is kept: the node stored the first name it saw,
        while the master holds the latest one a client registered. Returns the hashes
        that were deleted meanwhile: the node should drop them, not resurrect them.
        """
        if not items:
            return []
        now = time.time()
        with write_transaction(self.engine) as conn:
            bump_catalogue_version(conn)
            deleted = set(
                conn.execute(
                    select(tombstones.c.hash).where(
                        tombstones.c.hash.in_([item.hash for item in items])
                    )
                ).scalars()
            )
            items = [item for item in items if item.hash not in deleted]
            if not items:
                return sorted(deleted)
            conn.execute(
                self._insert_file_if_new,
                [
                    {
                        "hash": item.hash,
                        "name": item.name,
                        "size": item.size,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for item in items
                ],
            )
            self._confirm_replicas(conn, [item.hash for item in items], [node_id], now)
        return sorted(deleted)

    def delete_file(self, file_hash: str) -> FileRecord | None:
        """Forget a file and its replicas, leaving a tombstone; return what it was."""
        with write_transaction(self.engine) as conn:
            bump_catalogue_version(conn)
            record = self._get(conn, file_hash)
            if record is None:
                return None
            conn.execute(delete(replicas).where(replicas.c.hash == file_hash))
            conn.execute(delete(files).where(files.c.hash == file_hash))
            conn.execute(
                self._insert(tombstones).on_conflict_do_nothing(),
                {"hash": file_hash, "deleted_at": time.time()},
            )
        return record

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

    def _confirm_replicas(
        self, conn: Connection, hashes: Sequence[str], node_ids: Iterable[str], now: float
    ) -> None:
        rows = [
            {"hash": file_hash, "node": node_id, "confirmed_at": now}
            for file_hash in hashes
            for node_id in dict.fromkeys(node_ids)
        ]
        if rows:
            conn.execute(self._upsert_replica, rows)

    def _get(self, conn: Connection, file_hash: str) -> FileRecord | None:
        params = {"file_hash": file_hash}
        row = conn.execute(self._select_file, params).first()
        if row is None:
            return None
        nodes_of_file = conn.execute(self._select_replicas, params).scalars()
        return FileRecord(row.hash, row.name, row.size, tuple(nodes_of_file))
