"""The journal of files written into user trees since the snapshots kept: its records'
format, the rows that keep them, and their replay over a restored snapshot.

A snapshot holds the user trees as they were when it was taken; a file written after
it lives only in the master's database, though its bytes are on the nodes. So every
write of files into a user's tree (``NamespaceStore.put_file`` and ``put_files``: an
upload, a batch, a tus upload's end, a version restored), once committed and before it
is answered, is also written to R nodes as a small private blob of kind "journal": the
user, the paths and the content each now holds, and the time. Acknowledged means
journaled: a rebuilt master restores the latest snapshot, then replays, in order, every
record written after it (``replay``): each path is made to hold its content again
unless it already does. A record is kept until the oldest snapshot kept is newer than
it (``prune_journal``), whichever snapshot a recovery falls back to.

What it does not bring back: deletes, moves and folders made since the snapshot (a file
deleted since comes back, which loses nothing), and accounts created since (their
files are skipped: the snapshot has no such user). Records are written only while the
master has a snapshot to replay them over.
"""

from __future__ import annotations

import json
import posixpath
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select

from app.errors import InvalidSnapshot
from app.metadata.account_schema import users
from app.metadata.catalogue_schema import blobs, files
from app.metadata.engine import dialect_insert, write_transaction
from app.metadata.entries import Entry
from app.metadata.entry_rows import get_entry, put_entry
from app.metadata.recovery_schema import journal, snapshots

FORMAT = 1
PREFIX, SUFFIX = "journal-", ".json"


@dataclass(frozen=True)
class JournalRecord:
    """Files a user's tree was made to hold at ``written_at``: (path, hash, size) each."""

    user_id: int
    written_at: float
    files: tuple[tuple[str, str, int], ...]

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "user": self.user_id,
                "written_at": self.written_at,
                "files": [list(item) for item in self.files],
            },
            separators=(",", ":"),
        ).encode()


def record_of(user_id: int, entries: Sequence[Entry], written_at: float) -> JournalRecord:
    return JournalRecord(
        user_id,
        written_at,
        tuple((e.path, e.hash, e.size) for e in entries if not e.is_dir and e.hash),
    )


def parse_record(data: bytes) -> JournalRecord:
    """A record's bytes read back; InvalidSnapshot for bytes that are not one."""
    try:
        raw: Any = json.loads(data)
        if raw.get("format") != FORMAT:
            raise ValueError(f"format {raw.get('format')!r}")
        return JournalRecord(
            int(raw["user"]),
            float(raw["written_at"]),
            tuple((str(p), str(h), int(s)) for p, h, s in raw["files"]),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidSnapshot(f"not a journal record: {exc}") from exc


def journal_name(written_at: float) -> str:
    """A record's name on the nodes: what tells a rebuilt master its time."""
    return f"{PREFIX}{written_at:.6f}{SUFFIX}"


def written_at_of(name: str) -> float | None:
    if not name.startswith(PREFIX) or not name.endswith(SUFFIX):
        return None
    try:
        return float(name[len(PREFIX) : -len(SUFFIX)])
    except ValueError:
        return None


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


def replay(engine: Engine, records: Sequence[JournalRecord], after: float) -> int:
    """Make each path of the records written after ``after`` hold its content again, in
    the order written, unless it does; one transaction. A user or content the catalogue
    does not know (an account newer than the snapshot) is skipped. Return the files put."""
    put = 0
    now = time.time()
    with write_transaction(engine) as conn:
        known_users = set(conn.execute(select(users.c.id)).scalars())
        for record in sorted(records, key=lambda r: r.written_at):
            if record.written_at <= after or record.user_id not in known_users:
                continue
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
