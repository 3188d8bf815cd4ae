"""A user's entries: a folder or a file at a path, pointing at content by hash.

Paths are normalised by the caller (``app.userfiles.paths``): absolute, NFC, no empty, ``.``
or ``..`` segments; ``/`` is every user's root folder and is not stored.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from app.errors import NotFound

ROOT = "/"


class PathNotFound(NotFound):
    code = "path_not_found"


@dataclass(frozen=True)
class Entry:
    path: str
    is_dir: bool
    hash: str | None = None
    size: int = 0
    mtime: float = 0.0
    version: int = 0

    @property
    def name(self) -> str:
        return posixpath.basename(self.path)


def entry_from_row(row: Any) -> Entry:
    """The entry an ``fs_entries`` row (or one shaped like it) describes."""
    return Entry(row.path, row.is_dir, row.file_hash, row.size, row.mtime, row.version)
