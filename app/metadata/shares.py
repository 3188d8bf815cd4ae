"""Share links: whoever holds a link's token reads the content it was made for.

A link lasts until it expires (purged with the trash and versions by
``NamespaceStore.expire``) or is revoked, and works only while its owner is enabled.
Only the token's SHA-256 is stored (the caller hashes it); a link is listed under the
first characters of that hash, never the token. A link keeps its content stored, and
counted in its owner's quota, even after the file it was made from changes or goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, or_, select

from app.errors import BadRequest, NotFound
from app.metadata.account_schema import shares, users
from app.metadata.collection import release_content
from app.metadata.engine import ensure_schema, starts_with, write_transaction
from app.metadata.entries import Entry
from app.metadata.journal_records import JournalRecord, ShareState, share_record, unshare_record
from app.metadata.schema import master_metadata

SHARE_ID_LENGTH = 16


@dataclass(frozen=True)
class Share:
    id: str
    path: str
    hash: str
    size: int
    created_at: float
    expires_at: float | None
    password_hash: str | None
    # Only ``ShareStore.find`` looks: a disabled owner's links stop working.
    owner_disabled: bool = False


class ShareStore:
    """The share links of every user."""

    def __init__(
        self, engine: Engine, on_write: Callable[[JournalRecord], None] | None = None
    ) -> None:
        self.engine = engine
        # Called with the record of each link made or revoked, once committed and before
        # it is answered (the master's journal: ``app.metadata.journal``).
        self._on_write = on_write
        ensure_schema(master_metadata, engine)

    def add(
        self,
        user_id: int,
        entry: Entry,
        token_hash: str,
        password_hash: str | None,
        expires_at: float | None,
    ) -> Share:
        """A link to the file's current content (a folder cannot be shared)."""
        if entry.is_dir or entry.hash is None:
            raise BadRequest(
                f"{entry.path} is a folder: only files can be shared", code="is_a_directory"
            )
        now = time.time()
        with write_transaction(self.engine) as conn:
            conn.execute(
                shares.insert(),
                {
                    "token_hash": token_hash,
                    "user_id": user_id,
                    "path": entry.path,
                    "file_hash": entry.hash,
                    "size": entry.size,
                    "password_hash": password_hash,
                    "created_at": now,
                    "expires_at": expires_at,
                },
            )
        if self._on_write is not None:
            state = ShareState(
                token_hash, entry.path, entry.hash, entry.size, password_hash, now, expires_at
            )
            self._on_write(share_record(user_id, state, time.time()))
        return Share(
            token_hash[:SHARE_ID_LENGTH],
            entry.path,
            entry.hash,
            entry.size,
            now,
            expires_at,
            password_hash,
        )

    def of_user(self, user_id: int) -> list[Share]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(shares).where(shares.c.user_id == user_id).order_by(shares.c.created_at)
            ).all()
        return [_share(row) for row in rows]

    def find(self, token_hash: str) -> Share | None:
        """The link of this token hash, with whether its owner is disabled."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(shares, users.c.disabled)
                .join(users, users.c.id == shares.c.user_id)
                .where(shares.c.token_hash == token_hash)
            ).first()
        return None if row is None else _share(row, owner_disabled=row.disabled)

    def revoke(self, user_id: int, token_hash_or_id: str) -> None:
        """Revoke by the link's token (hashed by the caller) or by its listed id."""
        matches = shares.c.token_hash == token_hash_or_id
        if len(token_hash_or_id) == SHARE_ID_LENGTH:
            matches = or_(matches, starts_with(shares.c.token_hash, token_hash_or_id))
        with write_transaction(self.engine) as conn:
            rows = conn.execute(
                select(shares.c.token_hash, shares.c.file_hash).where(
                    shares.c.user_id == user_id, matches
                )
            ).all()
            if len(rows) != 1:
                raise NotFound("no such share link", code="share_not_found")
            conn.execute(delete(shares).where(shares.c.token_hash == rows[0].token_hash))
            release_content(conn, [rows[0].file_hash])
        if self._on_write is not None:
            self._on_write(unshare_record(user_id, rows[0].token_hash, time.time()))


def _share(row: Any, *, owner_disabled: bool = False) -> Share:
    return Share(
        row.token_hash[:SHARE_ID_LENGTH],
        row.path,
        row.file_hash,
        row.size,
        row.created_at,
        row.expires_at,
        row.password_hash,
        bool(owner_disabled),
    )
