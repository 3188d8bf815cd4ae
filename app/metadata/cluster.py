"""The master's view of the cluster: nodes and their heartbeats, replication state,
and deletions still owed by nodes that were away."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, case, delete, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from app.metadata.engine import ensure_schema, write_transaction
from app.metadata.repository import batches, bump_catalogue_version
from app.metadata.schema import blobs, files, master_metadata, nodes, pending_deletes, replicas


@dataclass(frozen=True)
class NodeStats:
    capacity_bytes: int = 0
    free_bytes: int = 0
    used_bytes: int = 0
    files: int = 0


@dataclass(frozen=True)
class NodeRecord:
    id: str
    url: str
    first_seen: float
    last_seen: float
    stats: NodeStats = NodeStats()

    def is_up(self, now: float, timeout: float) -> bool:
        """A node is up while its last heartbeat is younger than ``timeout`` seconds."""
        return now - self.last_seen <= timeout

    def to_dict(self, now: float, timeout: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "state": "up" if self.is_up(now, timeout) else "down",
            "last_beat": self.last_seen,
            "seconds_since_beat": round(now - self.last_seen, 3),
            "first_seen": self.first_seen,
            "capacity_bytes": self.stats.capacity_bytes,
            "free_bytes": self.stats.free_bytes,
            "used_bytes": self.stats.used_bytes,
            "files": self.stats.files,
        }


@dataclass(frozen=True)
class ReplicationState:
    hash: str
    name: str  # the file's name when the blob is a whole file, else ""
    size: int
    counted: int  # copies on nodes up, or down for less than the repair grace
    live: int  # copies on nodes up now
    is_file: bool = True  # a whole file, not only a block of a large one


class ClusterStore:
    """Nodes, replication counts and pending deletions, in the master's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ensure_schema(master_metadata, engine)
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert = dialect.insert

    def heartbeat(self, node_id: str, url: str, stats: NodeStats | None = None) -> None:
        """Record that ``node_id`` is alive at ``url``, with its disk figures if given."""
        now = time.time()
        values: dict[str, Any] = {"url": url, "last_seen": now}
        if stats is not None:
            values.update(
                capacity_bytes=stats.capacity_bytes,
                free_bytes=stats.free_bytes,
                used_bytes=stats.used_bytes,
                files=stats.files,
            )
        with write_transaction(self.engine) as conn:
            stmt = self._insert(nodes).values(id=node_id, first_seen=now, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=[nodes.c.id], set_=values))

    def list_nodes(self) -> list[NodeRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(nodes).order_by(nodes.c.id)).all()
        return [
            NodeRecord(
                r.id,
                r.url,
                r.first_seen,
                r.last_seen,
                NodeStats(r.capacity_bytes, r.free_bytes, r.used_bytes, r.files),
            )
            for r in rows
        ]

    def replication_states(
        self,
        counted_nodes: Collection[str],
        live_nodes: Collection[str],
        replication: int | None = None,
        limit: int | None = None,
    ) -> list[ReplicationState]:
        """Count each blob's copies; with ``replication``, only blobs off that target.

        In hash order, the first ``limit``. The repairer asks every few seconds, so the
        counting is a grouped scan of the replicas' primary key alone (a join of blobs,
        replicas and files grouped by name took six times as long), blobs without any
        copy are found by the same index, and only the chosen rows are described.
        """
        off_target = self._copies(counted_nodes, live_nodes)
        if replication is not None:
            off_target = off_target.having(
                or_(
                    off_target.selected_columns.counted < replication,
                    off_target.selected_columns.live > replication,
                )
            )
        bare = select(blobs.c.hash).where(~exists().where(replicas.c.hash == blobs.c.hash))
        with self.engine.connect() as conn:
            counts = {
                h: (int(c), int(n))
                for h, c, n in conn.execute(off_target.order_by(replicas.c.hash).limit(limit))
            }
            if replication is None or replication > 0:
                counts.update(
                    (h, (0, 0))
                    for h in conn.execute(bare.order_by(blobs.c.hash).limit(limit)).scalars()
                )
            chosen = sorted(counts)[:limit]
            described: dict[str, tuple[str | None, int]] = {}
            for chunk in batches(chosen):
                described.update(
                    (h, (name, size))
                    for h, name, size in conn.execute(
                        select(blobs.c.hash, files.c.name, blobs.c.size)
                        .select_from(blobs.outerjoin(files, files.c.hash == blobs.c.hash))
                        .where(blobs.c.hash.in_(list(chunk)))
                    )
                )
        return [
            ReplicationState(
                h,
                described[h][0] or "",
                described[h][1],
                *counts[h],
                is_file=described[h][0] is not None,
            )
            for h in chosen
            if h in described  # deleted meanwhile (PostgreSQL reads each statement afresh)
        ]

    def replication_summary(
        self, counted_nodes: Collection[str], live_nodes: Collection[str], replication: int
    ) -> dict[str, int]:
        """How many blobs there are, by the state of their copies against ``replication``:
        counted in the database, so that a health check holds no row per blob."""
        copies = self._copies(counted_nodes, live_nodes).subquery()
        counted = func.coalesce(copies.c.counted, 0)
        live = func.coalesce(copies.c.live, 0)

        def blobs_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        query = select(
            func.count().label("blobs"),
            blobs_where(live >= replication).label("healthy"),
            blobs_where((live > 0) & (live < replication)).label("degraded"),
            blobs_where(counted < replication).label("under_replicated"),
            blobs_where(live > replication).label("over_replicated"),
            blobs_where(live == 0).label("unavailable"),
            blobs_where(counted == 0).label("lost"),
        ).select_from(blobs.outerjoin(copies, copies.c.hash == blobs.c.hash))
        with self.engine.connect() as conn:
            row = conn.execute(query).one()
        return {key: int(value) for key, value in row._mapping.items()}

    @staticmethod
    def _copies(counted_nodes: Collection[str], live_nodes: Collection[str]) -> Select[Any]:
        """Per blob with any copy: its copies on counted nodes and on live ones."""
        counted = func.sum(case((replicas.c.node.in_(list(counted_nodes)), 1), else_=0))
        live = func.sum(case((replicas.c.node.in_(list(live_nodes)), 1), else_=0))
        return select(replicas.c.hash, counted.label("counted"), live.label("live")).group_by(
            replicas.c.hash
        )

    def forget_replica(self, file_hash: str, node_id: str) -> None:
        """Drop one copy from the catalogue (it was trimmed, or found missing or corrupt)."""
        with write_transaction(self.engine) as conn:
            bump_catalogue_version(conn)
            conn.execute(
                delete(replicas).where(replicas.c.hash == file_hash, replicas.c.node == node_id)
            )

    def owe_deletes(self, blob_hash: str, node_ids: Iterable[str]) -> None:
        """Remember that these nodes still hold a deleted blob's copy."""
        rows = [{"hash": blob_hash, "node": node_id} for node_id in node_ids]
        if rows:
            with write_transaction(self.engine) as conn:
                conn.execute(self._insert(pending_deletes).on_conflict_do_nothing(), rows)

    def deletes_owed_by(self, node_id: str, limit: int = 1000) -> list[str]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(pending_deletes.c.hash)
                    .where(pending_deletes.c.node == node_id)
                    .order_by(pending_deletes.c.hash)
                    .limit(limit)
                ).scalars()
            )

    def settle_deletes(self, node_id: str, hashes: Collection[str]) -> None:
        """The node confirmed these copies are gone."""
        if hashes:
            with write_transaction(self.engine) as conn:
                conn.execute(
                    delete(pending_deletes).where(
                        pending_deletes.c.node == node_id,
                        pending_deletes.c.hash.in_(list(hashes)),
                    )
                )
