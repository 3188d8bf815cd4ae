"""The records of the tree journal (``app.metadata.journal``): one change a user's tree,
account or share links went through, as the bytes a node keeps, and the name that tells
its time.

A record is of one kind, and says what the change needs to be made again:

- ``files``: the (path, hash, size) the tree was made to hold (an upload, a batch, a
  tus upload's end, a version restored);
- ``account``: the account as the database keeps it after it was created or changed
  (its name, password *hash*, admin, disabled, quota): never a password;
- ``mkdir`` (path), ``move`` and ``copy`` (source, target), ``trash`` (path, trash id:
  a delete), ``untrash`` (trash id: a trash entry put back), ``purge`` (trash id, or
  "" for the whole trash: deleted for good);
- ``share``: a share link's row as the database keeps it (its token's *hash*, the
  content, its password's hash, its times: what a snapshot holds of it already), and
  ``unshare`` (the token's hash: a link revoked).

A tree record (every kind but ``account``, ``share`` and ``unshare``) also carries
``seq``: its user's change-feed head (``app.metadata.changes``) read in the change's
own transaction, after the change. Feed numbers are taken in commit order, so a
snapshot whose consistent read saw the user's head at N holds exactly the changes of
seq N or less. A purge, or a restore that made no entry, takes no number: it holds the
head from its start (``changes.hold_feed``), so it came after the change of its seq and
before the next one; a snapshot of head N holds it if N is past its seq, and may or may
not at N itself.

A blob holds one record, or the records of concurrent changes that one group commit
wrote together (in the order they came), and is named after the latest one's time.
Format 1 (before kinds and groups) had only files records, and reads back as one;
format 2 (before ``seq``) reads back with none.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.errors import InvalidSnapshot
from app.metadata.entries import Entry

FORMAT = 3
# The formats read back: groups of records came with format 2.
READ_FORMATS = (1, 2, FORMAT)
PREFIX, SUFFIX = "journal-", ".json"
FILES, ACCOUNT, MKDIR, MOVE, COPY = "files", "account", "mkdir", "move", "copy"
TRASH, UNTRASH, PURGE = "trash", "untrash", "purge"
SHARE, UNSHARE = "share", "unshare"
# How many strings of ``args`` each kind carries.
ARITY = {MKDIR: 1, MOVE: 2, COPY: 2, TRASH: 2, UNTRASH: 1, PURGE: 1, UNSHARE: 1}


@dataclass(frozen=True)
class AccountState:
    """An account's columns that decide who gets in and how much they may store."""

    name: str
    password_hash: str
    is_admin: bool
    disabled: bool
    quota_bytes: int


@dataclass(frozen=True)
class ShareState:
    """A share link's row, but for its owner (the record's user)."""

    token_hash: str
    path: str
    file_hash: str
    size: int
    password_hash: str | None
    created_at: float
    expires_at: float | None


@dataclass(frozen=True)
class JournalRecord:
    """One change of user ``user_id``'s tree, account or share links, made at
    ``written_at``; ``seq``, the user's feed head after it (None: an account, a share
    link, or a record of format 1 or 2)."""

    user_id: int
    written_at: float
    kind: str = FILES
    files: tuple[tuple[str, str, int], ...] = ()
    args: tuple[str, ...] = ()
    account: AccountState | None = None
    seq: int | None = None
    share: ShareState | None = None

    def is_empty(self) -> bool:
        """A files record with no file (every one refused) changes nothing."""
        return self.kind == FILES and not self.files

    def to_dict(self) -> dict[str, Any]:
        raw: dict[str, Any] = {
            "format": FORMAT,
            "kind": self.kind,
            "user": self.user_id,
            "written_at": self.written_at,
        }
        if self.seq is not None:
            raw["seq"] = self.seq
        if self.kind == FILES:
            raw["files"] = [list(item) for item in self.files]
        elif self.kind == ACCOUNT:
            assert self.account is not None
            raw["account"] = vars(self.account)
        elif self.kind == SHARE:
            assert self.share is not None
            raw["share"] = vars(self.share)
        else:
            raw["args"] = list(self.args)
        return raw


def encode_records(records: Sequence[JournalRecord]) -> bytes:
    """The bytes of one blob: a record alone, or several (a group commit's) in order."""
    if len(records) == 1:
        raw: dict[str, Any] = records[0].to_dict()
    else:
        raw = {"format": FORMAT, "records": [record.to_dict() for record in records]}
    return json.dumps(raw, separators=(",", ":")).encode()


def files_record(
    user_id: int, entries: Sequence[Entry], written_at: float, seq: int | None = None
) -> JournalRecord:
    return JournalRecord(
        user_id,
        written_at,
        FILES,
        files=tuple((e.path, e.hash, e.size) for e in entries if not e.is_dir and e.hash),
        seq=seq,
    )


def tree_record(
    user_id: int, kind: str, args: Sequence[str], written_at: float, seq: int | None = None
) -> JournalRecord:
    """A record of a change of the tree's shape (``mkdir``, ``move``, ...)."""
    assert len(args) == ARITY[kind], (kind, args)
    return JournalRecord(user_id, written_at, kind, args=tuple(args), seq=seq)


def account_record(user_id: int, state: AccountState, written_at: float) -> JournalRecord:
    return JournalRecord(user_id, written_at, ACCOUNT, account=state)


def share_record(user_id: int, state: ShareState, written_at: float) -> JournalRecord:
    return JournalRecord(user_id, written_at, SHARE, share=state)


def unshare_record(user_id: int, token_hash: str, written_at: float) -> JournalRecord:
    return JournalRecord(user_id, written_at, UNSHARE, args=(token_hash,))


def parse_records(data: bytes) -> list[JournalRecord]:
    """A blob's records read back (one record of a format read, or several);
    InvalidSnapshot for bytes that are not that."""
    try:
        raw: Any = json.loads(data)
        if isinstance(raw, dict) and raw.get("format") in READ_FORMATS[1:] and "records" in raw:
            if not isinstance(raw["records"], list) or not raw["records"]:
                raise ValueError("no records")
            return [_record_of(item) for item in raw["records"]]
        return [_record_of(raw)]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidSnapshot(f"not a journal record: {exc}") from exc


def _record_of(raw: Any) -> JournalRecord:
    """A record from its JSON object; ValueError (or TypeError, KeyError,
    AttributeError) for one that is not."""
    fmt = raw.get("format")
    if fmt not in READ_FORMATS:
        raise ValueError(f"format {fmt!r}")
    kind = FILES if fmt == 1 else str(raw["kind"])
    user_id, written_at = int(raw["user"]), float(raw["written_at"])
    seq = None if raw.get("seq") is None else int(raw["seq"])
    if kind == FILES:
        files = tuple((str(p), str(h), int(s)) for p, h, s in raw["files"])
        return JournalRecord(user_id, written_at, FILES, files=files, seq=seq)
    if kind == ACCOUNT:
        a = raw["account"]
        state = AccountState(
            str(a["name"]),
            str(a["password_hash"]),
            bool(a["is_admin"]),
            bool(a["disabled"]),
            int(a["quota_bytes"]),
        )
        return account_record(user_id, state, written_at)
    if kind == SHARE:
        return share_record(user_id, _share_of(raw["share"]), written_at)
    if kind not in ARITY:
        raise ValueError(f"kind {kind!r}")
    args = tuple(str(arg) for arg in raw["args"])
    if len(args) != ARITY[kind]:
        raise ValueError(f"{kind} takes {ARITY[kind]} arguments, not {len(args)}")
    return JournalRecord(user_id, written_at, kind, args=args, seq=seq)


def _share_of(raw: Any) -> ShareState:
    def maybe(value: Any, kind: type) -> Any:
        return None if value is None else kind(value)

    return ShareState(
        str(raw["token_hash"]),
        str(raw["path"]),
        str(raw["file_hash"]),
        int(raw["size"]),
        maybe(raw["password_hash"], str),
        float(raw["created_at"]),
        maybe(raw["expires_at"], float),
    )


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
