"""The journal of changes of user trees, accounts and share links since the snapshots
kept: the rows that keep its records (their format: ``app.metadata.journal_records``;
their replay over a restored snapshot: ``app.metadata.journal_replay``).

A snapshot holds the user trees, accounts and links as they were when it was taken; a
change made after it lives only in the master's database, though a file's bytes are on
the nodes. So every change, once committed and before it is answered, is also written to R
nodes as a small private blob of kind "journal" (what changed, for which user, its
user's feed position, and when): each write of files into a tree
(``NamespaceStore.put_file`` and ``put_files``: an upload, a batch, a tus upload's end,
a version restored), each folder made, move, copy, delete to the trash, trash entry put
back and trash purged (``mkdir``, ``move``, ``copy``, ``trash``, ``restore_trash``,
``purge_trash``), each account made or changed (``UserStore.add`` and ``update``:
its password hash, admin, disabled, quota; never a password), and each share link made
or revoked (``ShareStore.add`` and ``revoke``: its token's and password's hashes, as a
snapshot holds them; never a token). Acknowledged means journaled: a rebuilt master
restores the latest snapshot, then replays the records written from a little before it
(``REPLAY_MARGIN``), each change the snapshot does not hold made again. A record is
kept until the oldest snapshot kept is newer than it by the margin (``prune_journal``),
whichever snapshot a recovery falls back to.

What it does not bring back: sessions opened since (their users log in again), and
uploads in progress. Records are written only while the master has a snapshot to replay
them over, or is taking its first (``JOURNAL_FROM``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, delete, func, select

from app.metadata.engine import dialect_insert, write_transaction
from app.metadata.recovery_schema import journal, snapshots
from app.metadata.schema import settings

# Seconds before a snapshot's time whose records are read for its replay, kept and
# learned back: a record is stamped after its commit, but a change committed after the
# snapshot's read may be stamped before its time by a master whose clock is behind the
# one that took it. Which of them the snapshot holds, its feed heads tell
# (``app.metadata.journal_replay``).
REPLAY_MARGIN = 60.0
# The setting a master writes before its first snapshot's read: a change committed after
# the read, before the snapshot is recorded, is journaled too (``journaling``).
JOURNAL_FROM = "journal.from"


def journaling(engine: Engine) -> bool:
    """Whether records are written now: only over a snapshot (users come back from one),
    or from the moment the first one began (``JOURNAL_FROM``)."""
    with engine.connect() as conn:
        if conn.execute(select(snapshots.c.hash).limit(1)).first() is not None:
            return True
        begun = select(settings.c.name).where(settings.c.name == JOURNAL_FROM)
        return conn.execute(begun).first() is not None


def note_record(engine: Engine, digest: str, written_at: float, size: int) -> None:
    """Keep a record's blob (written here, or reported by a node); known: a no-op."""
    with write_transaction(engine) as conn:
        conn.execute(
            dialect_insert(engine)(journal).on_conflict_do_nothing(),
            {"hash": digest, "written_at": written_at, "size": size},
        )


def learn_records(engine: Engine, reported: Sequence[tuple[str, float, int]]) -> int:
    """Keep the (hash, written_at, size) records a node reports that are not kept yet
    and not older than every snapshot kept by the margin (those were pruned: a node
    that still holds one must not bring it back before garbage collection deletes it);
    return how many.
    A time of 0 (a copy whose name was lost) is kept only while no snapshot is known."""
    if not reported:
        return 0
    with engine.connect() as conn:
        known = set(
            conn.execute(
                select(journal.c.hash).where(journal.c.hash.in_([r[0] for r in reported]))
            ).scalars()
        )
        oldest = conn.execute(select(func.min(snapshots.c.taken_at))).scalar_one()
    new = [
        {"hash": digest, "written_at": written_at, "size": size}
        for digest, written_at, size in reported
        if digest not in known and (oldest is None or written_at >= oldest - REPLAY_MARGIN)
    ]
    if new:
        with write_transaction(engine) as conn:
            conn.execute(dialect_insert(engine)(journal).on_conflict_do_nothing(), new)
    return len(new)


def records_after(engine: Engine, after: float) -> list[tuple[str, int]]:
    """(hash, size) of the records written after ``after``, oldest first. A copy whose
    name was lost (repaired as a nameless blob) counts as after: its content has the time."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(journal.c.hash, journal.c.size)
            .where((journal.c.written_at > after) | (journal.c.written_at == 0))
            .order_by(journal.c.written_at)
        ).all()
    return [(r.hash, r.size) for r in rows]


def prune_journal(engine: Engine) -> int:
    """Forget the records older than the oldest snapshot kept by the margin (each one
    has them all); garbage collection then deletes their blobs. Return how many."""
    with write_transaction(engine) as conn:
        oldest = conn.execute(select(func.min(snapshots.c.taken_at))).scalar_one()
        if oldest is None:
            return 0
        gone = conn.execute(delete(journal).where(journal.c.written_at < oldest - REPLAY_MARGIN))
        return int(gone.rowcount or 0)
