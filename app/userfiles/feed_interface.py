"""The account change feed as front ends see it (``/api/tree``, ``/api/changes``): a
listing of a folder's whole subtree that a client begins from, then every change after
it, in order, and a long poll that answers as soon as there is one.

A client lists the tree (every page), keeps the cursor of the first page, then follows
the feed from it: a change made while it listed is in the feed after that cursor, so
nothing is missed (a change may show twice: in a page and in the feed; applying it
twice is harmless). A cursor older than the log kept is 410 cursor_expired: list again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from app.metadata.changes import Change  # the feed's own value: one change
from app.metadata.entries import Entry
from app.userfiles.interface import User


@dataclass(frozen=True)
class TreePage:
    """Entries below a folder, by path; ``next`` is what to ask after for the next page
    (None: this was the last), ``cursor`` the feed position read before them."""

    entries: list[Entry]
    cursor: str
    next: str | None


@dataclass(frozen=True)
class ChangesPage:
    """Changes in order; ``cursor`` follows the last (ask again from it)."""

    changes: list[Change]
    cursor: str
    has_more: bool


class ChangeFeed(Protocol):
    """A user's tree as a listing and a feed of changes (``app.metadata.changes``)."""

    def tree(self, user: User, path: str | None, after: str | None, limit: int) -> TreePage:
        """A page of every file and folder below ``path`` (the root by default; not the
        folder itself), by path, after the path ``after``; 409 not_a_directory for a
        file, 404 path_not_found."""
        ...

    def latest(self, user: User, path: str | None) -> str:
        """A cursor at the feed's current end, following ``path`` (the root by default)."""
        ...

    def changes(self, user: User, cursor: str, limit: int) -> ChangesPage:
        """The changes after ``cursor`` under its path, at most ``limit``; 400
        invalid_cursor, 410 cursor_expired."""
        ...

    def wait(
        self,
        user: User,
        cursor: str,
        timeout: float,
        client_gone: Callable[[float], bool] | None = None,
    ) -> bool:
        """Whether there is a change after ``cursor`` under its path, waiting up to
        ``timeout`` seconds for one, or until ``client_gone`` (a wait of up to the
        seconds given, True once the caller left) says so; errors as ``changes``."""
        ...
