"""The change feed service: the listing a sync client begins from, the changes after
it, and the long poll (``app.userfiles.feed_interface``), over the feed's tables
(``app.metadata.changes``)."""

from __future__ import annotations

from collections.abc import Callable

from app.errors import Conflict
from app.metadata.changes import FeedStore
from app.metadata.entries import ROOT
from app.metadata.namespace import NamespaceStore
from app.userfiles.change_wait import ChangeWatch
from app.userfiles.cursors import make_cursor, read_cursor
from app.userfiles.feed_interface import ChangesPage, TreePage
from app.userfiles.interface import User
from app.userfiles.paths import normalize_path

# Entries of a tree page and changes of a feed page: the default and the most.
DEFAULT_PAGE = 1_000
MAX_PAGE = 5_000
# Seconds a long poll may wait.
MAX_WAIT = 120.0


class ChangeFeedService:
    """``ChangeFeed`` over the namespace and its feed."""

    def __init__(self, namespace: NamespaceStore, feed: FeedStore, watch: ChangeWatch) -> None:
        self._namespace = namespace
        self._feed = feed
        self._watch = watch

    def tree(self, user: User, path: str | None, after: str | None, limit: int) -> TreePage:
        scope = self._scope(user, path)
        start = None if after is None else normalize_path(after, "after")
        entries, more, position = self._feed.tree(user.id, scope, start, _page(limit))
        following = entries[-1].path if more and entries else None
        return TreePage(entries, make_cursor(user.id, position, scope), following)

    def latest(self, user: User, path: str | None) -> str:
        scope = self._scope(user, path)
        return make_cursor(user.id, self._feed.position(user.id), scope)

    def changes(self, user: User, cursor: str, limit: int) -> ChangesPage:
        after, scope = read_cursor(user.id, cursor)
        page = self._feed.read(user.id, after, scope, _page(limit))
        return ChangesPage(page.changes, make_cursor(user.id, page.position, scope), page.has_more)

    def wait(
        self,
        user: User,
        cursor: str,
        timeout: float,
        client_gone: Callable[[float], bool] | None = None,
    ) -> bool:
        after, scope = read_cursor(user.id, cursor)
        timeout = min(max(timeout, 0.0), MAX_WAIT)
        return self._watch.wait(user.id, after, scope, timeout, client_gone)

    def _scope(self, user: User, path: str | None) -> str:
        scope = normalize_path(path or ROOT)
        if not self._namespace.require(user.id, scope).is_dir:
            raise Conflict(f"{scope} is a file", code="not_a_directory")
        return scope


def _page(limit: int) -> int:
    return min(max(limit, 1), MAX_PAGE)
