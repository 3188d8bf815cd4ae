"""The master's view of the cluster: nodes and their heartbeats, replication state,
and deletions still owed by nodes that were away."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    FromClause,
    Select,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)

from app.metadata.catalogue_schema import blobs, files, nodes, pending_deletes, replicas, tombstones
from app.metadata.catalogue_version import bump_catalogue_version
from app.metadata.cluster_blobs import describe_cluster_blobs
from app.metadata.engine import batches, dialect_insert, ensure_schema, write_transaction
from app.metadata.records import NodeRecord, NodeStats, ReplicationState, ScrubFigures
from app.metadata.schema import master_metadata

# The distinct nodes of ``replicas``, by its index on node: a loose index scan.
_HOLDERS = """
WITH RECURSIVE held(node) AS (
    SELECT min(node) FROM replicas
    UNION ALL
    SELECT (SELECT min(node) FROM replicas WHERE node > held.node) FROM held
    WHERE held.node IS NOT NULL
)
SELECT node FROM held WHERE node IS NOT NULL
"""
# Seconds after a down mark within which a heartbeat does not clear it (one in flight
# when the node died).
STALE_BEAT = 1.0
# Blobs without any copy in ``replicas``.
_BARE = select(blobs.c.hash).where(~exists().where(replicas.c.hash == blobs.c.hash))


def _copies_on(node_ids: Collection[str]) -> ColumnElement[int]:
    """In a query grouped by blob: how many of its copies are on ``node_ids``."""
    return func.sum(case((replicas.c.node.in_(list(node_ids)), 1), else_=0))


def _urgency(counted: int, replication: int) -> int:
    """Where a blob off target comes in a repair pass (see ``replication_states``)."""
    if counted == 0:
        return 2
    return 0 if counted < replication else 1


class ClusterStore:
    """Nodes, replication counts and pending deletions, in the master's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        ensure_schema(master_metadata, engine)
        self._insert = dialect_insert(engine)

    def heartbeat(
        self,
        node_id: str,
        url: str,
        stats: NodeStats | None = None,
        scrub: ScrubFigures | None = None,
    ) -> None:
        """Record that ``node_id`` is alive at ``url``, with its disk figures and its
        scrubbing if given."""
        now = time.time()
        values: dict[str, Any] = {"url": url, "last_seen": now}
        if stats is not None:
            values.update(
                capacity_bytes=stats.capacity_bytes,
                free_bytes=stats.free_bytes,
                used_bytes=stats.used_bytes,
                files=stats.files,
            )
        if scrub is not None:
            values.update(
                scrub_started_at=scrub.started_at,
                scrub_finished_at=scrub.finished_at,
                scrub_seconds=scrub.seconds,
                scrub_checked=scrub.checked,
                scrub_corrupt=scrub.corrupt,
                scrub_missing=scrub.missing,
            )
        # A beat clears a down mark made more than STALE_BEAT ago: one sent just before
        # the node died may arrive just after its stream broke, and must not revive it.
        revived = case((nodes.c.down_since < now - STALE_BEAT, 0.0), else_=nodes.c.down_since)
        with write_transaction(self.engine) as conn:
            stmt = self._insert(nodes).values(id=node_id, first_seen=now, **values)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[nodes.c.id], set_={**values, "down_since": revived}
                )
            )

    def stream_opened(self, node_id: str, url: str) -> None:
        """Record that ``node_id`` at ``url`` opened its stream: alive now, not down."""
        now = time.time()
        values: dict[str, Any] = {"url": url, "last_seen": now, "down_since": 0.0}
        with write_transaction(self.engine) as conn:
            stmt = self._insert(nodes).values(id=node_id, first_seen=now, **values)
            conn.execute(stmt.on_conflict_do_update(index_elements=[nodes.c.id], set_=values))

    def mark_down(self, node_id: str, since: float) -> None:
        """Record that ``node_id`` is down since ``since`` (its stream broke, and it did
        not answer), for every master worker to leave it out at once."""
        with write_transaction(self.engine) as conn:
            conn.execute(update(nodes).where(nodes.c.id == node_id).values(down_since=since))

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
                r.unresponsive_since,
                ScrubFigures(
                    r.scrub_started_at,
                    r.scrub_finished_at,
                    r.scrub_seconds,
                    r.scrub_checked,
                    r.scrub_corrupt,
                    r.scrub_missing,
                ),
                down_since=r.down_since,
            )
            for r in rows
        ]

    def mark_unresponsive(self, node_id: str, since: float) -> None:
        """Record that ``node_id`` stopped answering at ``since`` (0: it answers again),
        for every master worker to leave it out of placement and reads meanwhile."""
        with write_transaction(self.engine) as conn:
            conn.execute(
                update(nodes).where(nodes.c.id == node_id).values(unresponsive_since=since)
            )

    def replication_states(
        self,
        counted_nodes: Collection[str],
        live_nodes: Collection[str],
        replication: int | None = None,
        limit: int | None = None,
    ) -> list[ReplicationState]:
        """Count each blob's copies (in hash order); with ``replication``, only the first
        ``limit`` blobs off that target, the most urgent first.

        That is: under-replicated blobs that still have a copy, fewest copies first, then
        over-replicated ones, then those without a counted copy (nothing to copy from:
        they are only reported, and first they would fill every batch), by hash within
        each. The repairer asks every few seconds: while every node holding a copy counts
        (it is up, or down for less than the repair grace), ``blobs.copies`` (kept by
        triggers) finds the blobs off target by its index, so a pass costs what is off
        target and not what is stored. Once a node holding copies stops counting, the
        copies are counted by a grouped scan of the replicas' primary key.
        """
        counted = set(counted_nodes)
        live = set(live_nodes)
        with self.engine.connect() as conn:
            if replication is not None and (holders := self._holders(conn)) <= counted:
                counts = self._off_target_by_count(
                    conn, live, replication, limit, all_live=holders <= live
                )
            else:
                counts = self._counted_by_scan(conn, counted, live, replication, limit)
            described: dict[str, tuple[str | None, int]] = {}
            own: dict[str, tuple[str, str]] = {}
            for chunk in batches(list(counts)):
                some = list(chunk)
                described.update(
                    (h, (name, size))
                    for h, name, size in conn.execute(
                        select(blobs.c.hash, files.c.name, blobs.c.size)
                        .select_from(blobs.outerjoin(files, files.c.hash == blobs.c.hash))
                        .where(blobs.c.hash.in_(some))
                    )
                )
                # A manifest, a snapshot or a journal record is copied as one, with
                # its name, for a rebuilt master to find.
                own.update(describe_cluster_blobs(conn, some))
        return [
            ReplicationState(
                h,
                described[h][0] or own.get(h, ("", ""))[1],
                described[h][1],
                *counts[h],
                kind="file" if described[h][0] is not None else own.get(h, ("block", ""))[0],
            )
            for h in counts
            if h in described  # deleted meanwhile (PostgreSQL reads each statement afresh)
        ]

    @staticmethod
    def _holders(conn: Connection) -> set[str]:
        """The nodes that hold any copy: one index probe per node, not a scan."""
        return set(conn.exec_driver_sql(_HOLDERS).scalars())

    @staticmethod
    def _off_target_by_count(
        conn: Connection, live: set[str], replication: int, limit: int | None, *, all_live: bool
    ) -> dict[str, tuple[int, int]]:
        """Blobs off target by ``blobs.copies``, when every copy counts: under target by
        the count alone, over it by the copies on ``live`` nodes (all of them when
        ``all_live``)."""
        copies = blobs.c.copies
        on_live = _copies_on(live)
        found: dict[str, tuple[int, int]] = {}

        def take(query: Select[Any], *order: ColumnElement[Any]) -> None:
            wanted = None if limit is None else limit - len(found)
            if wanted is None or wanted > 0:
                query = query.order_by(*order).limit(wanted)
                found.update((h, (int(n), int(k))) for h, n, k in conn.execute(query))

        by_count = (copies, blobs.c.hash)
        take(
            select(blobs.c.hash, copies, copies).where(copies >= 1, copies < replication), *by_count
        )
        if not all_live:  # their copies on nodes down now are not live
            for chunk in batches(list(found)):
                found.update(
                    (h, (found[h][0], int(k)))
                    for h, k in conn.execute(
                        select(replicas.c.hash, on_live)
                        .where(replicas.c.hash.in_(list(chunk)))
                        .group_by(replicas.c.hash)
                    )
                )
        if all_live:
            take(select(blobs.c.hash, copies, copies).where(copies > replication), *by_count)
        else:
            # Candidates by the index first: grouped from the blobs' side, SQLite would
            # walk every blob in hash order.
            over = select(blobs.c.hash).where(copies > replication)
            every = func.count()
            take(
                select(replicas.c.hash, every, on_live)
                .where(replicas.c.hash.in_(over))
                .group_by(replicas.c.hash)
                .having(on_live > replication),
                every,
                replicas.c.hash,
            )
        if replication > 0:
            take(select(blobs.c.hash, copies, copies).where(copies == 0), *by_count)
        return found

    def _counted_by_scan(
        self,
        conn: Connection,
        counted: set[str],
        live: set[str],
        replication: int | None,
        limit: int | None,
    ) -> dict[str, tuple[int, int]]:
        """Blobs counted copy by copy on ``counted`` and ``live`` nodes (all, or those off
        ``replication``)."""
        groups = self._copies(counted, live)
        if replication is None:
            rows = [(h, int(c), int(n)) for h, c, n in conn.execute(groups)]
            rows += [(h, 0, 0) for h in conn.execute(_BARE).scalars()]
            return {h: (c, n) for h, c, n in sorted(rows)}
        on_counted, on_live = groups.selected_columns.counted, groups.selected_columns.live
        urgency = case((on_counted == 0, 2), (on_counted < replication, 0), else_=1)
        off_target = groups.having(or_(on_counted < replication, on_live > replication))
        query = off_target.order_by(urgency, on_counted, replicas.c.hash).limit(limit)
        rows = [(h, int(c), int(n)) for h, c, n in conn.execute(query)]
        if replication > 0:
            query = _BARE.order_by(blobs.c.hash).limit(limit)
            rows += [(h, 0, 0) for h in conn.execute(query).scalars()]
        rows.sort(key=lambda row: (_urgency(row[1], replication), row[1], row[0]))
        return {h: (c, n) for h, c, n in rows[:limit]}

    def replication_summary(
        self, counted_nodes: Collection[str], live_nodes: Collection[str], replication: int
    ) -> dict[str, int]:
        """How many blobs there are, by the state of their copies against ``replication``:
        counted in the database, so that a health check holds no row per blob (and, while
        every node holding a copy is up, by ``blobs.copies`` alone)."""
        with self.engine.connect() as conn:
            counted: ColumnElement[int]
            live: ColumnElement[int]
            if self._holders(conn) <= set(counted_nodes) & set(live_nodes):
                counted = live = blobs.c.copies
                source: FromClause = blobs
            else:
                copies = self._copies(counted_nodes, live_nodes).subquery()
                counted = func.coalesce(copies.c.counted, 0)
                live = func.coalesce(copies.c.live, 0)
                source = blobs.outerjoin(copies, copies.c.hash == blobs.c.hash)
            row = conn.execute(self._summary(counted, live, replication).select_from(source)).one()
        return {key: int(value) for key, value in row._mapping.items()}

    @staticmethod
    def _summary(
        counted: ColumnElement[int], live: ColumnElement[int], replication: int
    ) -> Select[int, int, int, int, int, int, int]:
        def blobs_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        return select(
            func.count().label("blobs"),
            blobs_where(live >= replication).label("healthy"),
            blobs_where((live > 0) & (live < replication)).label("degraded"),
            blobs_where(counted < replication).label("under_replicated"),
            blobs_where(live > replication).label("over_replicated"),
            blobs_where(live == 0).label("unavailable"),
            blobs_where(counted == 0).label("lost"),
        )

    @staticmethod
    def _copies(counted_nodes: Collection[str], live_nodes: Collection[str]) -> Select[Any]:
        """Per blob with any copy: its copies on counted nodes and on live ones."""
        counted = _copies_on(counted_nodes)
        live = _copies_on(live_nodes)
        return select(replicas.c.hash, counted.label("counted"), live.label("live")).group_by(
            replicas.c.hash
        )

    def hide_copy(self, blob_hash: str, node_id: str) -> None:
        """Record that a node holds its copy privately (it refused it to an unsigned read)."""
        with write_transaction(self.engine) as conn:
            bump_catalogue_version(conn)
            conn.execute(
                update(replicas)
                .where(replicas.c.hash == blob_hash, replicas.c.node == node_id)
                .values(private=True)
            )

    def forget_replica(self, file_hash: str, node_id: str) -> None:
        """Drop one copy from the catalogue (it was trimmed, or found missing or corrupt)."""
        self.forget_copies(node_id, [file_hash])

    def forget_copies(self, node_id: str, hashes: Collection[str]) -> list[str]:
        """Drop the copies of ``hashes`` on ``node_id``; return those there were.

        The catalogue's version moves only when a copy went: nodes report every hash
        they were asked for and lack, and most of those were never placed there.
        """
        forgotten: list[str] = []
        with write_transaction(self.engine) as conn:
            for chunk in batches(list(dict.fromkeys(hashes))):
                forgotten += conn.execute(
                    delete(replicas)
                    .where(replicas.c.node == node_id, replicas.c.hash.in_(list(chunk)))
                    .returning(replicas.c.hash)
                ).scalars()
            if forgotten:
                bump_catalogue_version(conn)
        return sorted(forgotten)

    def new_copies(self, node_id: str, hashes: Collection[str]) -> set[str]:
        """Of ``hashes``, those the catalogue neither places on ``node_id`` nor has
        deleted (tombstoned): what a node's inventory would add."""
        wanted = set(hashes)
        with self.engine.connect() as conn:
            for chunk in batches(list(wanted)):
                known = select(replicas.c.hash).where(
                    replicas.c.node == node_id, replicas.c.hash.in_(list(chunk))
                )
                deleted = select(tombstones.c.hash).where(tombstones.c.hash.in_(list(chunk)))
                wanted -= set(conn.execute(known.union(deleted)).scalars())
        return wanted

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
