"""Users and their API tokens in the master's database.

Passwords arrive here already hashed (the service hashes them); tokens are stored as
their SHA-256, so neither a copy of the database nor its logs let anyone log in.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.errors import Conflict, NotFound
from app.metadata.account_schema import api_tokens, users
from app.metadata.engine import ensure_schema, starts_with, write_transaction
from app.metadata.journal_records import AccountState, JournalRecord, account_record
from app.metadata.schema import master_metadata
from app.metadata.usage import usage


def token_digest(token: str) -> str:
    """What is stored of a bearer token or share token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class User:
    id: int
    name: str
    password_hash: str
    is_admin: bool
    disabled: bool
    quota_bytes: int

    def state(self) -> AccountState:
        """What the journal keeps of it (the password as stored: its hash)."""
        return AccountState(
            self.name, self.password_hash, self.is_admin, self.disabled, self.quota_bytes
        )


# Hex digits of a token's stored digest that name it on the account page: 64 bits, enough
# among one user's sessions, and no help in guessing the token.
TOKEN_ID_LENGTH = 16


@dataclass(frozen=True)
class TokenRecord:
    """A live login of a user's, as listed to them (never the token itself)."""

    id: str
    kind: str
    created_at: float
    expires_at: float
    label: str


class UserNotFound(NotFound):
    code = "user_not_found"


class UserStore:
    """Users, their tokens and their usage."""

    def __init__(
        self, engine: Engine, on_write: Callable[[JournalRecord], None] | None = None
    ) -> None:
        self.engine = engine
        # Called with the account as it is once created or changed, once committed and
        # before it is answered (the master's journal: ``app.metadata.journal``).
        self._on_write = on_write
        ensure_schema(master_metadata, engine)

    def add(self, name: str, password_hash: str, *, admin: bool = False, quota: int = 0) -> User:
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(
                    users.insert(),
                    {
                        "name": name,
                        "password_hash": password_hash,
                        "is_admin": admin,
                        "disabled": False,
                        "quota_bytes": quota,
                        "created_at": time.time(),
                    },
                )
        except IntegrityError:
            raise Conflict(f"user '{name}' exists", code="user_exists") from None
        return self._journaled(self.get(name))

    def get(self, name: str) -> User:
        with self.engine.connect() as conn:
            row = conn.execute(select(users).where(users.c.name == name)).first()
        if row is None:
            raise UserNotFound(f"no user '{name}'")
        return _user(row)

    def list(self) -> list[tuple[User, int]]:
        """Every user with the bytes their quota counts (``app.metadata.usage``)."""
        used = usage().subquery()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(users, func.coalesce(used.c.used, 0))
                .select_from(users.outerjoin(used, used.c.user_id == users.c.id))
                .order_by(users.c.name)
            ).all()
        return [(_user(row), int(row[-1])) for row in rows]

    def update(self, name: str, **values: Any) -> User:
        """Change ``disabled``, ``quota_bytes``, ``password_hash`` or ``is_admin``.

        Disabling a user also revokes every token they hold.
        """
        user = self.get(name)
        with write_transaction(self.engine) as conn:
            change_account(conn, user.id, values)
        return self._journaled(self.get(name))

    def _journaled(self, user: User) -> User:
        if self._on_write is not None:
            self._on_write(account_record(user.id, user.state(), time.time()))
        return user

    def issue_token(
        self, user: User, *, kind: str = "api", lifetime: float = 0.0, label: str = ""
    ) -> str:
        """A new token for ``user``, 256 bits from the OS's CSPRNG; with a ``lifetime``
        (seconds), it stops working then."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        with write_transaction(self.engine) as conn:
            conn.execute(
                api_tokens.insert(),
                {
                    "token_hash": token_digest(token),
                    "user_id": user.id,
                    "created_at": now,
                    "kind": kind,
                    "expires_at": now + lifetime if lifetime else 0.0,
                    "label": label[:200],
                },
            )
        return token

    def user_for_token(self, token: str) -> User | None:
        """The active user a live token belongs to, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(users)
                .join(api_tokens, api_tokens.c.user_id == users.c.id)
                .where(
                    api_tokens.c.token_hash == token_digest(token),
                    ~users.c.disabled,
                    _live(time.time()),
                )
            ).first()
        return None if row is None else _user(row)

    def tokens(self, user_id: int) -> tuple[TokenRecord, ...]:
        """The user's live tokens, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(api_tokens)
                .where(api_tokens.c.user_id == user_id, _live(time.time()))
                .order_by(api_tokens.c.created_at.desc())
            ).all()
        return tuple(
            TokenRecord(
                row.token_hash[:TOKEN_ID_LENGTH],
                row.kind,
                row.created_at,
                row.expires_at,
                row.label,
            )
            for row in rows
        )

    def revoke_token(self, token: str) -> bool:
        with write_transaction(self.engine) as conn:
            gone = conn.execute(
                delete(api_tokens).where(api_tokens.c.token_hash == token_digest(token))
            ).rowcount
        return bool(gone)

    def revoke_token_id(self, user_id: int, token_id: str, *, keep: str | None = None) -> int:
        """Revoke the user's tokens whose id is ``token_id`` (all but ``keep`` when it is
        empty); return how many."""
        where = [api_tokens.c.user_id == user_id]
        if token_id:
            where.append(starts_with(api_tokens.c.token_hash, token_id))
        if keep is not None:
            where.append(api_tokens.c.token_hash != token_digest(keep))
        with write_transaction(self.engine) as conn:
            return int(conn.execute(delete(api_tokens).where(*where)).rowcount)


def change_account(conn: Connection, user_id: int, values: Mapping[str, Any]) -> None:
    """Set an account's columns in the caller's transaction; disabling it revokes every
    token it holds."""
    conn.execute(update(users).where(users.c.id == user_id).values(**values))
    if values.get("disabled"):
        conn.execute(delete(api_tokens).where(api_tokens.c.user_id == user_id))


def _live(now: float) -> Any:
    return or_(api_tokens.c.expires_at == 0.0, api_tokens.c.expires_at > now)


def _user(row: Any) -> User:
    return User(row.id, row.name, row.password_hash, row.is_admin, row.disabled, row.quota_bytes)
