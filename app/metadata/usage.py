"""What a user's quota counts: the distinct content that their references keep stored.

A user keeps content through their current files, the earlier versions of them, the
items in their trash and their share links (a link keeps the content it was made for,
even after the file changes). Each distinct content, by hash, counts once at its size,
however many of these refer to it: storing the same bytes twice (a copy, a restore, a
file overwritten with what it held) stores nothing more, and frees nothing when one of
the references goes. Content shared with other users is counted in full for each of
them. What is counted is exactly what would stay stored if the user were the only one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, exists, func, or_, select, union_all

from app.errors import QuotaExceeded
from app.metadata.account_schema import fs_entries, fs_versions, shares, trash, trash_items, users


def _references(user_id: int | None) -> Any:
    """(user_id, file_hash, size) of every reference to content, of one user or all."""
    parts = [
        select(fs_entries.c.user_id, fs_entries.c.file_hash, fs_entries.c.size).where(
            fs_entries.c.file_hash.is_not(None)
        ),
        select(fs_versions.c.user_id, fs_versions.c.file_hash, fs_versions.c.size),
        select(trash.c.user_id, trash_items.c.file_hash, trash_items.c.size)
        .join(trash, trash.c.id == trash_items.c.trash_id)
        .where(trash_items.c.file_hash.is_not(None)),
        select(shares.c.user_id, shares.c.file_hash, shares.c.size),
    ]
    if user_id is not None:
        parts = [part.where(part.selected_columns[0] == user_id) for part in parts]
    return union_all(*parts).subquery()


def usage(user_id: int | None = None) -> Select[Any]:
    """(user_id, used_bytes) per user with any content: one user's, or every user's."""
    refs = _references(user_id)
    distinct = (
        select(refs.c.user_id, refs.c.file_hash, func.max(refs.c.size).label("size"))
        .group_by(refs.c.user_id, refs.c.file_hash)
        .subquery()
    )
    return select(distinct.c.user_id, func.sum(distinct.c.size).label("used")).group_by(
        distinct.c.user_id
    )


def used_bytes(conn: Connection, user_id: int) -> int:
    """The bytes ``user_id``'s quota counts now."""
    row = conn.execute(usage(user_id)).first()
    return 0 if row is None else int(row.used)


def holds(conn: Connection, user_id: int, file_hash: str) -> bool:
    """Whether the user already keeps this content (then referring to it again is free)."""
    return bool(
        conn.execute(
            select(
                or_(
                    exists().where(
                        fs_entries.c.user_id == user_id, fs_entries.c.file_hash == file_hash
                    ),
                    exists().where(
                        fs_versions.c.user_id == user_id, fs_versions.c.file_hash == file_hash
                    ),
                    exists().where(
                        trash.c.user_id == user_id,
                        trash_items.c.trash_id == trash.c.id,
                        trash_items.c.file_hash == file_hash,
                    ),
                    exists().where(shares.c.user_id == user_id, shares.c.file_hash == file_hash),
                )
            )
        ).scalar()
    )


def quota_exceeded(incoming: int, quota: int, used: int) -> QuotaExceeded:
    """The 507 of ``incoming`` more bytes that do not fit."""
    return QuotaExceeded(
        f"{incoming} more bytes would exceed the quota of {quota} bytes ({used} used)",
        details={"quota_bytes": quota, "used_bytes": used},
    )


def check_room(conn: Connection, user_id: int, file_hash: str, size: int, quota: int) -> None:
    """Refuse (507) a new reference to content the user does not keep yet and that does
    not fit in their quota (0: no limit); call inside the write transaction.

    On PostgreSQL the user's row is locked first, so that two writes of one user are
    counted one after the other (SQLite's write transactions already are).
    """
    if not quota or holds(conn, user_id, file_hash):
        return
    conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update())
    used = used_bytes(conn, user_id)
    if used + size > quota:
        raise quota_exceeded(size, quota, used)
