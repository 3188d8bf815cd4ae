"""The JSON answers of /api/: one rendering per value of ``app.userfiles.interface``, in
the shapes the README documents (keys in this order)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from app.metadata.changes import MOVE, Change
from app.metadata.entries import Entry
from app.userfiles.batch import BatchResult
from app.userfiles.interface import (
    Account,
    Download,
    Listing,
    NewShare,
    SessionInfo,
    Share,
    TrashEntry,
)


def account_answer(account: Account) -> dict[str, Any]:
    user = account.user
    return {
        "name": user.name,
        "admin": user.is_admin,
        "disabled": user.disabled,
        "quota_bytes": user.quota_bytes,
        "used_bytes": account.used_bytes,
    }


def block_map_answer(download: Download) -> dict[str, Any]:
    """A file's blocks, in order, each with the signed node URLs that send it."""
    return {
        "name": download.name,
        "size": download.size,
        "hash": download.hash,
        "blocks": [
            {
                "hash": block.hash,
                "offset": block.offset,
                "size": block.size,
                "urls": list(block.urls),
            }
            for block in download.locate()
        ],
    }


def entry_answer(entry: Entry) -> dict[str, Any]:
    """A file or folder as stat, list, mkdir, move, copy and restore show it."""
    shown: dict[str, Any] = {
        "name": entry.name,
        "path": entry.path,
        "size": entry.size,
        "mtime": entry.mtime,
        "hash": entry.hash,
        "is_dir": entry.is_dir,
    }
    if not entry.is_dir:
        shown["version"] = entry.version
    return shown


def tree_entry_answer(entry: Entry) -> dict[str, Any]:
    """A file or folder of /api/tree: ``entry_answer`` with ``modified`` (the mtime, as
    the feed's changes name it) and a ``version`` that is null for a folder."""
    return {**entry_answer(entry), "modified": entry.mtime, "version": _version(entry)}


def change_answer(change: Change) -> dict[str, Any]:
    """One change of /api/changes (``from`` only for a move)."""
    shown: dict[str, Any] = {"seq": change.seq, "change": change.kind, "path": change.path}
    if change.kind == MOVE:
        shown["from"] = change.from_path
    shown.update(
        is_dir=change.is_dir,
        size=change.size,
        hash=change.hash,
        modified=change.mtime,
        version=None if change.is_dir else change.version,
    )
    return shown


def _version(entry: Entry) -> int | None:
    return None if entry.is_dir else entry.version


def stored_answer(entry: Entry) -> dict[str, Any]:
    """A file just stored by PUT /api/files."""
    return {"path": entry.path, "size": entry.size, "hash": entry.hash, "version": entry.version}


def version_answer(entry: Entry) -> dict[str, Any]:
    return {"version": entry.version, "hash": entry.hash, "size": entry.size, "mtime": entry.mtime}


def trash_answer(item: TrashEntry) -> dict[str, Any]:
    return asdict(item)


def share_answer(share: Share) -> dict[str, Any]:
    return {
        "id": share.id,
        "path": share.path,
        "hash": share.hash,
        "size": share.size,
        "created_at": share.created_at,
        "expires_at": share.expires_at,
        "password": share.has_password,
    }


def new_share_answer(made: NewShare) -> dict[str, Any]:
    return {"token": made.token, "url": made.url, **share_answer(made.share)}


def listing_answer(listing: Listing) -> dict[str, Any]:
    """A page of a folder: ``total`` entries in all, these from ``offset``."""
    return {
        "path": listing.path,
        "entries": [entry_answer(entry) for entry in listing.entries],
        "total": listing.total,
        "offset": listing.offset,
    }


def session_answer(session: SessionInfo) -> dict[str, Any]:
    return asdict(session)


def batch_answer(result: BatchResult) -> dict[str, Any]:
    """One file of POST /api/batch: as PUT /api/files answers it, or its error."""
    if result.entry is not None:
        return stored_answer(result.entry)
    assert result.error is not None
    return {"path": result.path, "error": result.error.to_dict()["error"]}
