"""The tree journal's replay (``app.metadata.journal``) over a restored snapshot: which
records are made again, in what order, and each change made again unless it is made.

Which: a snapshot keeps each user's feed head as its consistent read saw it, and feed
numbers are taken in commit order, so it holds exactly the tree changes whose record's
``seq`` is at most its user's head; every other one is made again, however its time
compares with the snapshot's (a record is stamped after its commit, and a snapshot's
time is taken before its read: a change committed in between is in both). A purge or
a restore of the trash, which may take no number of its own, is made again from its
user's head on (at the head itself the snapshot may hold it, and then its trash entry
is gone: made again only while it is there, and a purge of the whole trash then finds
none that came after it). A record without seq (format 1 or 2), and any record over a
snapshot without heads (an older master's), keep the rule of time (written after the
snapshot's time). An account record, the account's whole state, is made again from the
margin on (``REPLAY_MARGIN``): the later ones, in order, make over a state the snapshot
had already. So is a share link's (made: its row, unless there or expired; revoked:
deleted if there): a token is never made twice, and only expiry, which goes by time,
removes a link unjournaled.

In what order: by time, each user's tree records among themselves by seq (their commit
order; two changes made at once may be stamped the other way round), a purge or a
restore after the change whose number it held. Accounts keep their place in time,
before the files of their user.

Made again: an account is put back with its id, a share link with its row; a path is
made to hold its content again unless it does; a folder, move, copy, delete or purge is
made again unless it is made (its source gone or its target there), a deleted entry
keeping its trash id. Then each user's feed goes on past the numbers the records carry
(``changes.skip_feeds_past``): a cursor of the old master's feed means other changes.
"""

from __future__ import annotations

import posixpath
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.exc import IntegrityError

from app.errors import AppError
from app.metadata.account_schema import shares, users
from app.metadata.accounts import change_account
from app.metadata.catalogue_schema import blobs, files
from app.metadata.changes import skip_feeds_past
from app.metadata.collection import release_content
from app.metadata.engine import advance_id_sequence, write_transaction
from app.metadata.entry_rows import copy_entries, ensure_folder, get_entry, move_entries, put_entry
from app.metadata.journal import REPLAY_MARGIN
from app.metadata.journal_records import (
    ACCOUNT,
    COPY,
    FILES,
    MKDIR,
    MOVE,
    PURGE,
    SHARE,
    TRASH,
    UNSHARE,
    UNTRASH,
    JournalRecord,
)
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
# The changes of the trash that may take no feed number: ordered by the head they held.
HELD = (UNTRASH, PURGE)
# The records of a whole state, or of a change made only once: replayed from the margin on.
WHOLE = (ACCOUNT, SHARE, UNSHARE)
# What the report calls the share links made again and revoked again.
SHARE_COUNTS = {SHARE: "shares", UNSHARE: "unshared"}


def is_missing(record: JournalRecord, after: float, heads: Mapping[int, int] | None) -> bool:
    """Whether the snapshot of time ``after`` and feed ``heads`` (None: it kept none)
    lacks the record's change (module docstring)."""
    if heads is None:
        return record.written_at > after
    if record.kind in WHOLE:
        return record.written_at > after - REPLAY_MARGIN
    if record.seq is None:
        return record.written_at > after
    if record.kind in HELD:
        return record.seq >= heads.get(record.user_id, 0)
    return record.seq > heads.get(record.user_id, 0)


def replay_order(records: Sequence[JournalRecord]) -> list[JournalRecord]:
    """The records by time, each user's numbered ones among their own places by seq."""
    by_time = sorted(records, key=lambda r: r.written_at)
    places: defaultdict[int, list[int]] = defaultdict(list)
    for index, record in enumerate(by_time):
        if record.seq is not None:
            places[record.user_id].append(index)
    ordered = list(by_time)
    for indexes in places.values():
        # Stable: records of one number (a purge, a change that took none) keep their time.
        numbered = sorted((by_time[i] for i in indexes), key=lambda r: (r.seq, r.kind in HELD))
        for index, record in zip(indexes, numbered, strict=True):
            ordered[index] = record
    return ordered


def replay(
    engine: Engine,
    records: Sequence[JournalRecord],
    after: float,
    heads: Mapping[int, int] | None = None,
) -> dict[str, int]:
    """Make each change of the records that the snapshot of time ``after`` and feed
    ``heads`` lacks again (``is_missing``), in ``replay_order``, unless it is made
    already; one transaction, a savepoint for each record. An account comes back as the
    database kept it (before the files of its user); a file whose content the catalogue
    does not know, or whose user it has no record of, is skipped, as is a change that
    cannot be made (counted). Return how many of each kind were made: ``files_put``
    (files), ``accounts``, the ``TREE_COUNTS`` and ``SHARE_COUNTS``, and how many were
    ``skipped``."""
    made: Counter[str] = Counter(files_put=0, accounts=0, skipped=0)
    made.update(dict.fromkeys([*TREE_COUNTS.values(), *SHARE_COUNTS.values()], 0))
    now = time.time()
    with write_transaction(engine) as conn:
        known_users = set(conn.execute(select(users.c.id)).scalars())
        inserted_user = False
        numbers: dict[int, int] = {}  # the furthest feed number replayed, per user
        for record in replay_order(records):
            if not is_missing(record, after, heads):
                continue
            if record.kind != ACCOUNT and record.user_id not in known_users:
                made["skipped"] += 1
                continue
            if record.seq is not None:
                numbers[record.user_id] = max(record.seq, numbers.get(record.user_id, 0))
            try:
                with conn.begin_nested():
                    if record.kind == ACCOUNT:
                        inserted_user |= _replay_account(conn, record, known_users)
                        made["accounts"] += 1
                    elif record.kind == FILES:
                        made["files_put"] += _replay_files(conn, record, now)
                    elif record.kind in SHARE_COUNTS:
                        made[SHARE_COUNTS[record.kind]] += _replay_share(conn, record, now)
                    elif _replay_tree(conn, record, now):
                        made[TREE_COUNTS[record.kind]] += 1
            except (AppError, IntegrityError):
                made["skipped"] += 1  # a name taken, a file where a folder goes, ...
        if inserted_user:
            advance_id_sequence(conn, users)
        skip_feeds_past(conn, numbers)
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


def _replay_share(conn: Connection, record: JournalRecord, now: float) -> int:
    """Make a share link again unless it is there or expired, or revoke it again if it
    is there; return whether it was (0 or 1)."""
    if record.kind == UNSHARE:
        owned = (shares.c.token_hash == record.args[0]) & (shares.c.user_id == record.user_id)
        held = conn.execute(select(shares.c.file_hash).where(owned)).scalars().all()
        conn.execute(delete(shares).where(owned))
        release_content(conn, list(held))  # its content's grace begins, as at a revoke
        return len(held)
    state = record.share
    assert state is not None
    if state.expires_at is not None and state.expires_at < now:
        return 0  # expiry would have purged it: not journaled, so not brought back
    there = select(shares.c.token_hash).where(shares.c.token_hash == state.token_hash)
    if conn.execute(there).first() is not None:
        return 0
    conn.execute(shares.insert(), {"user_id": record.user_id, **vars(state)})
    return 1


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
