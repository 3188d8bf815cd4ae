"""The account change feed: every change to a user's tree, recorded in the transaction
that makes it (``entry_rows``, ``namespace``, ``trash`` call ``record_changes``), read
in order after a position, and trimmed by retention.

Each user's changes are numbered 1, 2, ... in commit order (``schema.feed_heads``).
A change is one of:

- ``upsert``: a file or folder now at ``path`` (created, overwritten, restored, copied);
  a copy of a folder is an upsert of the folder and of every entry copied, by path;
- ``delete``: the file or folder at ``path`` went to the trash (a folder: with its whole
  subtree, in one change);
- ``move``: the file or folder at ``from_path`` is now at ``path`` (a folder: with its
  subtree, in one change).

A reader may follow only a folder (its *scope*): it then sees the changes as they look
from inside it (``_as_seen``): a move out of it is a delete, a move into it an upsert of
what arrived and of its subtree as it is now, and a delete or move of a folder above it
a delete of the scope itself.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, false, func, or_, select, true, update

from app.errors import Gone
from app.metadata.account_schema import changes, feed_heads, fs_entries, users
from app.metadata.engine import dialect_insert, starts_with, write_transaction
from app.metadata.entries import ROOT, Entry, entry_from_row

UPSERT, DELETE, MOVE = "upsert", "delete", "move"


class CursorExpired(Gone):
    code = "cursor_expired"


@dataclass(frozen=True)
class Change:
    """One change of a user's tree; the entry as the change left it (a delete: as it was)."""

    seq: int
    kind: str
    path: str
    is_dir: bool
    hash: str | None
    size: int
    mtime: float
    version: int
    from_path: str | None = None


@dataclass(frozen=True)
class ChangePage:
    """Changes after a position, in order, and the position they bring the reader to."""

    changes: list[Change]
    position: int
    has_more: bool


def record_changes(
    conn: Connection,
    user_id: int,
    items: Sequence[tuple[str, Entry, str | None]],
    now: float,
) -> None:
    """Record ``(kind, entry, from_path)`` changes, in order, in the caller's transaction."""
    if not items:
        return
    last = _take_seqs(conn, user_id, len(items))
    first = last - len(items) + 1
    conn.execute(
        changes.insert(),
        [
            {
                "user_id": user_id,
                "seq": first + offset,
                "kind": kind,
                "path": entry.path,
                "from_path": from_path,
                "is_dir": entry.is_dir,
                "file_hash": entry.hash,
                "size": entry.size,
                "mtime": entry.mtime,
                "version": entry.version,
                "recorded_at": now,
            }
            for offset, (kind, entry, from_path) in enumerate(items)
        ],
    )


def _take_seqs(conn: Connection, user_id: int, count: int) -> int:
    """Reserve ``count`` numbers of the user's feed; return the last. The row stays locked
    (PostgreSQL) or the database is (SQLite) until the caller commits: numbers are taken
    in commit order."""
    if conn.dialect.name == "postgresql":
        # The user's row first, as the quota's check takes it (``usage.check_room``):
        # two writes of one user then lock in one order, never each other's.
        conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update())
    statement = (
        dialect_insert(conn)(feed_heads)
        .values(user_id=user_id, seq=count, trimmed=0)
        .on_conflict_do_update(
            index_elements=[feed_heads.c.user_id], set_={"seq": feed_heads.c.seq + count}
        )
        .returning(feed_heads.c.seq)
    )
    return int(conn.execute(statement).scalar_one())


def head(conn: Connection, user_id: int) -> tuple[int, int]:
    """The user's last seq and the last one trimmed away (0, 0 for a user without any)."""
    row = conn.execute(
        select(feed_heads.c.seq, feed_heads.c.trimmed).where(feed_heads.c.user_id == user_id)
    ).first()
    return (0, 0) if row is None else (int(row.seq), int(row.trimmed))


def hold_feed(conn: Connection, user_id: int) -> int:
    """Hold the user's feed head, as taking a number does, without taking one; return
    it. A change of the trash that the feed does not show (a purge; a restore that made
    no entry) holds it from its start: it is then ordered with every numbered change,
    after those up to the head and before the next, which its journal record says."""
    return _take_seqs(conn, user_id, 0)


def journal_seq(conn: Connection, user_id: int) -> int:
    """The user's last seq as the caller's transaction sees it: read after a change, in
    its transaction, what its journal record carries (``app.metadata.journal_records``)."""
    return head(conn, user_id)[0]


def feed_positions(conn: Connection) -> dict[int, int]:
    """Every user's last seq."""
    rows = conn.execute(select(feed_heads.c.user_id, feed_heads.c.seq)).all()
    return {int(row.user_id): int(row.seq) for row in rows}


def restart_feeds(conn: Connection, *positions: dict[int, int]) -> None:
    """After the trees were replaced (a snapshot restored): each user's feed goes on past
    the furthest of ``positions`` (the database's own, the snapshot's: a rebuilt master
    has none of its own), with everything before trimmed, so that every cursor given
    before is 410 cursor_expired and its client lists the tree again."""
    present = set(conn.execute(select(users.c.id)).scalars())
    conn.execute(delete(feed_heads))
    conn.execute(delete(changes))
    furthest: dict[int, int] = {}
    for known in positions:
        for user_id, seq in known.items():
            furthest[user_id] = max(seq, furthest.get(user_id, 0))
    rows = [
        # The restore itself counts as a change, trimmed at once.
        {"user_id": user_id, "seq": seq + 1, "trimmed": seq + 1}
        for user_id, seq in furthest.items()
        if user_id in present
    ]
    if rows:
        conn.execute(feed_heads.insert(), rows)


def skip_feeds_past(conn: Connection, positions: dict[int, int]) -> None:
    """Move each user's feed past ``positions`` (numbers an earlier master gave, which
    its journal records carry), everything before trimmed: the changes a replay made
    took numbers from the snapshot's head on, which a client may hold as a cursor of
    the old feed, meaning other changes."""
    for user_id, seq in positions.items():
        last, _trimmed = head(conn, user_id)
        beyond = max(last, seq) + 1
        conn.execute(delete(changes).where(changes.c.user_id == user_id))
        conn.execute(
            dialect_insert(conn)(feed_heads)
            .values(user_id=user_id, seq=beyond, trimmed=beyond)
            .on_conflict_do_update(
                index_elements=[feed_heads.c.user_id], set_={"seq": beyond, "trimmed": beyond}
            )
        )


class FeedStore:
    """Reads of the change feed (with the tree listing that a feed is begun from), and
    its retention."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def position(self, user_id: int) -> int:
        with self.engine.connect() as conn:
            return head(conn, user_id)[0]

    def positions(self, user_ids: Sequence[int]) -> dict[int, int]:
        """The last seq of each user (those without changes are left out)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(feed_heads.c.user_id, feed_heads.c.seq).where(
                    feed_heads.c.user_id.in_(list(user_ids))
                )
            ).all()
        return {int(row.user_id): int(row.seq) for row in rows}

    def tree(
        self, user_id: int, scope: str, after: str | None, limit: int
    ) -> tuple[list[Entry], bool, int]:
        """A page of every entry below ``scope`` by path (code point order on both
        databases) after ``after``, whether more follow, and the feed position.

        The position is read first: on PostgreSQL each statement sees its own snapshot,
        and a change committed between the two reads then is both in the page and after
        the position (seen twice, harmless), never in neither.
        """
        path = _code_point_order(fs_entries.c.path, self.engine)
        query = select(fs_entries).where(
            fs_entries.c.user_id == user_id, _inside(fs_entries.c.path, scope, strict=True)
        )
        if after is not None:
            query = query.where(path > after)
        with self.engine.connect() as conn:
            position = head(conn, user_id)[0]
            rows = conn.execute(query.order_by(path).limit(limit + 1)).all()
        return [entry_from_row(row) for row in rows[:limit]], len(rows) > limit, position

    def read(self, user_id: int, after: int, scope: str, limit: int) -> ChangePage:
        """The changes after position ``after`` as seen from ``scope``, at most ``limit``
        (a folder moved into the scope brings its subtree with it, beyond the limit)."""
        with self.engine.connect() as conn:
            last = self._check(conn, user_id, after)
            rows = conn.execute(
                select(changes)
                .where(
                    changes.c.user_id == user_id,
                    changes.c.seq > after,
                    changes.c.seq <= last,
                    _in_scope(scope),
                )
                .order_by(changes.c.seq)
                .limit(limit + 1)
            ).all()
            more = len(rows) > limit
            rows = rows[:limit]
            seen: list[Change] = []
            for row in rows:
                seen += _as_seen(conn, user_id, _change(row), scope)
        return ChangePage(seen, int(rows[-1].seq) if more else last, more)

    def has_change(self, user_id: int, after: int, upto: int, scope: str) -> bool:
        """Whether a change in ``(after, upto]`` concerns ``scope``."""
        with self.engine.connect() as conn:
            found = conn.execute(
                select(changes.c.seq)
                .where(
                    changes.c.user_id == user_id,
                    changes.c.seq > after,
                    changes.c.seq <= upto,
                    _in_scope(scope),
                )
                .limit(1)
            ).first()
        return found is not None

    def check(self, user_id: int, after: int) -> int:
        """The user's position; 410 cursor_expired if ``after`` is no longer followable."""
        with self.engine.connect() as conn:
            return self._check(conn, user_id, after)

    def _check(self, conn: Connection, user_id: int, after: int) -> int:
        last, trimmed = head(conn, user_id)
        if after < trimmed or after > last:
            # After the last: a cursor of another database (restored from a backup).
            raise CursorExpired(
                "the changes after this cursor are no longer kept: list the tree again"
            )
        return last

    def trim(self, now: float, retention: float, keep: int) -> int:
        """Forget each user's changes older than ``retention`` seconds, and all but the
        newest ``keep`` (0: no limit of either kind); return how many went."""
        with write_transaction(self.engine) as conn:
            cuts: dict[int, int] = {}
            if retention:
                for user_id, seq in conn.execute(
                    select(changes.c.user_id, func.max(changes.c.seq))
                    .where(changes.c.recorded_at < now - retention)
                    .group_by(changes.c.user_id)
                ).all():
                    cuts[int(user_id)] = int(seq)
            if keep:
                for user_id, seq in conn.execute(
                    select(feed_heads.c.user_id, feed_heads.c.seq).where(
                        feed_heads.c.seq - feed_heads.c.trimmed > keep
                    )
                ).all():
                    cuts[int(user_id)] = max(cuts.get(int(user_id), 0), int(seq) - keep)
            gone = 0
            for user_id, seq in cuts.items():
                gone += conn.execute(
                    delete(changes).where(changes.c.user_id == user_id, changes.c.seq <= seq)
                ).rowcount
                conn.execute(
                    update(feed_heads)
                    .where(feed_heads.c.user_id == user_id, feed_heads.c.trimmed < seq)
                    .values(trimmed=seq)
                )
        return int(gone)


def _change(row: Any) -> Change:
    return Change(
        int(row.seq),
        row.kind,
        row.path,
        row.is_dir,
        row.file_hash,
        int(row.size),
        row.mtime,
        int(row.version),
        row.from_path,
    )


def _code_point_order(column: Any, engine: Engine) -> Any:
    # PostgreSQL orders text by the database's collation; "C" is by code point (UTF-8
    # bytes), as SQLite always does: a folder comes right before what it holds.
    return column.collate("C") if engine.dialect.name == "postgresql" else column


def _inside(column: Any, scope: str, *, strict: bool = False) -> Any:
    """``column`` is ``scope`` or below it (``strict``: only below)."""
    if scope == ROOT:
        return column != ROOT if strict else true()
    below = starts_with(column, scope + "/")
    return below if strict else or_(column == scope, below)


def _ancestors(scope: str) -> list[str]:
    """The folders above ``scope``, the root left out (it is never deleted or moved)."""
    found = []
    while (scope := posixpath.dirname(scope)) != ROOT:
        found.append(scope)
    return found


def _in_scope(scope: str) -> Any:
    """The changes that ``_as_seen`` may show from ``scope``, as a condition."""
    if scope == ROOT:
        return true()
    above = _ancestors(scope)
    return or_(
        _inside(changes.c.path, scope),
        _inside(changes.c.from_path, scope),
        and_(changes.c.kind != UPSERT, changes.c.path.in_(above)) if above else false(),
        changes.c.from_path.in_(above) if above else false(),
    )


def _as_seen(conn: Connection, user_id: int, change: Change, scope: str) -> list[Change]:
    """``change`` as a reader of ``scope`` sees it (module docstring)."""
    if scope == ROOT:
        return [change]

    def inside(path: str) -> bool:
        return path == scope or path.startswith(scope + "/")

    def above(path: str) -> bool:
        return scope.startswith(path + "/")

    gone = replace(change, kind=DELETE, path=scope, is_dir=True, hash=None, size=0, version=0)
    if change.kind == UPSERT:
        return [change] if inside(change.path) else []
    if change.kind == DELETE:
        if inside(change.path):
            return [change]
        return [gone] if above(change.path) else []
    source = change.from_path or ""
    if inside(source):
        if inside(change.path):
            return [change]
        return [replace(change, kind=DELETE, path=source, from_path=None)]
    if above(source):
        return [gone]
    if inside(change.path) or above(change.path):
        return _arrived(conn, user_id, change.seq, change.path if inside(change.path) else scope)
    return []


def _arrived(conn: Connection, user_id: int, seq: int, top: str) -> list[Change]:
    """Upserts of ``top`` and its subtree as they are now (moved into a reader's scope)."""
    rows = conn.execute(
        select(fs_entries)
        .where(fs_entries.c.user_id == user_id, _inside(fs_entries.c.path, top))
        .order_by(_code_point_order(fs_entries.c.path, conn.engine))
    ).all()
    return [
        Change(seq, UPSERT, e.path, e.is_dir, e.hash, e.size, e.mtime, e.version)
        for e in map(entry_from_row, rows)
    ]
