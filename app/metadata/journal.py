"""The journal of changes of user trees and accounts since the snapshots kept: the rows
that keep its records (their format: ``app.metadata.journal_records``) and their replay
over a restored snapshot.

A snapshot holds the user trees and accounts as they were when it was taken; a change
made after it lives only in the master's database, though a file's bytes are on the
nodes. So every change, once committed and before it is answered, is also written to R
nodes as a small private blob of kind "journal" (what changed, for which user, and
when): each write of files into a tree (``NamespaceStore.put_file`` and ``put_files``:
an upload, a batch, a tus upload's end, a version restored), each folder made, move,
copy, delete to the trash, trash entry put back and trash purged (``mkdir``, ``move``,
``copy``, ``trash``, ``restore_trash``, ``purge_trash``), and each account made or
changed (``UserStore.add`` and ``update``: its password hash, admin, disabled, quota;
never a password). Acknowledged means journaled: a rebuilt master restores the latest
snapshot, then replays, in the order written, every record written after it
(``replay``): an account is put back with its id (before its user's changes, which
follow it in time); a path is made to hold its content again unless it does; a folder,
move, copy, delete or purge is made again unless it is made (its source gone or its
target there), a deleted entry keeping its trash id. A record is kept until the oldest
snapshot kept is newer than it (``prune_journal``), whichever snapshot a recovery falls
back to.

What it does not bring back: sessions opened since (their users log in again), share
links made or revoked since, and uploads in progress. Records are written only while
the master has a snapshot to replay them over.
"""

from __future__ import annotations

import posixpath
import time
from collections import Counter
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, delete, func, select
from sqlalchemy.exc import IntegrityError

from app.errors import AppError
from app.metadata.account_schema import users
from app.metadata.accounts import change_account
from app.metadata.catalogue_schema import blobs, files
from app.metadata.engine import advance_id_sequence, dialect_insert, write_transaction
from app.metadata.entry_rows import copy_entries, ensure_folder, get_entry, move_entries, put_entry
from app.metadata.journal_records import (
    ACCOUNT,
    COPY,
    FILES,
    MKDIR,
    MOVE,
    PURGE,
    TRASH,
    UNTRASH,
    JournalRecord,
)
from app.metadata.recovery_schema import journal, snapshots
from app.metadata.trash import (
    has_trash_entry,
    purge_trash_entries,
    restore_trash_entries,
    trash_entries,
)

# What the report of a replay calls the changes of the tree's shape made again.
TREE_COUNTS = {
    MKDIR: "folders",
    MOVE: "moves",
    COPY: "copies",
    TRASH: "trashed",
    UNTRASH: "untrashed",
    PURGE: "purged",
}


def journaling(engine: Engine) -> bool:
    """Whether records are written now: only over a snapshot (users come back from one)."""
    with engine.connect() as conn:
        return conn.execute(select(snapshots.c.hash).limit(1)).first() is not None


def note_record(engine: Engine, digest: str, written_at: float, size: int) -> None:
    """Keep a record's blob (written here, or reported by a node); known: a no-op."""
    with write_transaction(engine) as conn:
        conn.execute(
            dialect_insert(engine)(journal).on_conflict_do_nothing(),
            {"hash": digest, "written_at": written_at, "size": size},
        )


def learn_records(engine: Engine, reported: Sequence[tuple[str, float, int]]) -> int:
    """Keep the (hash, written_at, size) records a node reports that are not kept yet
    and not older than every snapshot kept (those were pruned: a node that still holds
    one must not bring it back before garbage collection deletes it); return how many.
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
        if digest not in known and (oldest is None or written_at >= oldest)
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
    """Forget the records older than the oldest snapshot kept (each one has them all);
    garbage collection then deletes their blobs. Return how many."""
    with write_transaction(engine) as conn:
        oldest = conn.execute(select(func.min(snapshots.c.taken_at))).scalar_one()
        if oldest is None:
            return 0
        gone = conn.execute(delete(journal).where(journal.c.written_at < oldest))
        return int(gone.rowcount or 0)


def replay(engine: Engine, records: Sequence[JournalRecord], after: float) -> dict[str, int]:
    """Make each change of the records written after ``after`` again, in the order
    written, unless it is made already; one transaction, a savepoint for each record. An
    account comes back as the database kept it (before the files of its user); a file
    whose content the catalogue does not know, or whose user it has no record of, is
    skipped, as is a change that cannot be made (counted). Return how many of each kind
    were made: ``files_put`` (files), ``accounts``, the ``TREE_COUNTS``, and how many
    were ``skipped``."""
    made: Counter[str] = Counter(files_put=0, accounts=0, skipped=0)
    made.update(dict.fromkeys(TREE_COUNTS.values(), 0))
    now = time.time()
    with write_transaction(engine) as conn:
        known_users = set(conn.execute(select(users.c.id)).scalars())
        inserted_user = False
        for record in sorted(records, key=lambda r: r.written_at):
            if record.written_at <= after:
                continue
            if record.kind != ACCOUNT and record.user_id not in known_users:
                made["skipped"] += 1
                continue
            try:
                with conn.begin_nested():
                    if record.kind == ACCOUNT:
                        inserted_user |= _replay_account(conn, record, known_users)
                        made["accounts"] += 1
                    elif record.kind == FILES:
                        made["files_put"] += _replay_files(conn, record, now)
                    elif _replay_tree(conn, record, now):
                        made[TREE_COUNTS[record.kind]] += 1
            except (AppError, IntegrityError):
                made["skipped"] += 1  # a name taken, a file where a folder goes, ...
        if inserted_user:
            advance_id_sequence(conn, users)
    return dict(made)


def _replay_account(conn: Connection, record: JournalRecord, known_users: set[int]) -> bool:
    """Put the account back as the record has it; return whether it was new."""
    assert record.account is not None
    values = vars(record.account)
    if record.user_id in known_users:
        change_account(conn, record.user_id, values)
        return False
    conn.execute(users.insert(), {"id": record.user_id, "created_at": record.written_at, **values})
    known_users.add(record.user_id)
    return True


def _replay_tree(conn: Connection, record: JournalRecord, now: float) -> bool:
    """Make a change of the tree's shape again unless it is made (its source gone, its
    target there); return whether it was made."""
    user_id, args = record.user_id, record.args
    if record.kind == MKDIR:
        current = get_entry(conn, user_id, args[0])
        if current is not None and current.is_dir:
            return False
        ensure_folder(conn, user_id, args[0], now)
    elif record.kind in (MOVE, COPY):
        source, target = args
        if get_entry(conn, user_id, source) is None or get_entry(conn, user_id, target):
            return False
        if record.kind == MOVE:
            move_entries(conn, user_id, source, target, now)
        else:
            copy_entries(conn, user_id, source, target, 0, now)
    elif record.kind == TRASH:
        path, trash_id = args
        if get_entry(conn, user_id, path) is None or has_trash_entry(conn, user_id, trash_id):
            return False
        trash_entries(conn, user_id, path, trash_id, now)
    elif record.kind == PURGE:
        if args[0] and not has_trash_entry(conn, user_id, args[0]):
            return False
        return purge_trash_entries(conn, user_id, args[0] or None) > 0
    else:  # UNTRASH
        if not has_trash_entry(conn, user_id, args[0]):
            return False
        restore_trash_entries(conn, user_id, args[0], 0, now)
    return True


def _replay_files(conn: Connection, record: JournalRecord, now: float) -> int:
    put = 0
    for path, digest, size in record.files:
        if not _content_known(conn, digest, size, path, now):
            continue
        current = get_entry(conn, record.user_id, path)
        if current is not None and (current.is_dir or current.hash == digest):
            continue
        put_entry(conn, record.user_id, path, digest, size, 0, now)
        put += 1
    return put


def _content_known(conn: Connection, digest: str, size: int, path: str, now: float) -> bool:
    """Whether the catalogue has the file, making it from its blob if need be: a large
    file comes back from its manifest, a small private one only as a blob its nodes
    reported (one blob under its own hash, private as the per-user API stores it)."""
    if conn.execute(select(files.c.hash).where(files.c.hash == digest)).first() is not None:
        return True
    blob = conn.execute(select(blobs.c.size).where(blobs.c.hash == digest)).first()
    if blob is None or blob.size != size:
        return False
    conn.execute(
        files.insert(),
        {
            "hash": digest,
            "name": posixpath.basename(path),
            "size": size,
            "created_at": now,
            "updated_at": now,
            "block_size": 0,
            "public": False,
        },
    )
    return True
