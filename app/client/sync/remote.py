"""The remote side of a sync: one folder of the account, as a tree of relative paths.

The first run lists the whole tree (``GET /api/tree``) and keeps it in the state with the
feed's cursor; each later run asks only what changed since (``GET /api/changes``) and
applies it to the tree kept. A cursor the master no longer knows means a new listing.
"""

from __future__ import annotations

import posixpath
from typing import Any

from app.client.account_client import AccountClient
from app.client.errors import ClientError, FileNotFound
from app.client.sync.planner import DIR, Node
from app.client.sync.state import SyncState

# What the master answers for a cursor to list afresh from.
STALE_CURSOR = ("cursor_expired", "invalid_cursor")


class RemoteFolder:
    """The folder ``root`` of the logged-in user's files."""

    def __init__(self, account: AccountClient, root: str) -> None:
        self.account = account
        self.root = "/" + root.strip("/")

    def path_of(self, rel: str) -> str:
        """The account path of a path relative to the folder."""
        return posixpath.join(self.root, rel)

    def rel_of(self, path: str) -> str | None:
        """The relative path of an account path (``None``: outside the folder)."""
        if self.root == "/":
            return path.strip("/") or None
        if path.startswith(self.root + "/"):
            return path[len(self.root) + 1 :]
        return None

    def ensure(self) -> None:
        """Make the folder if it is not there yet."""
        if self.root != "/":
            self.account.mkdir(self.root)

    def current_tree(self, state: SyncState) -> dict[str, Node]:
        """The folder's tree now: the one kept in ``state`` with the changes since its
        cursor applied, or a new listing (kept with its cursor)."""
        cursor = state.setting("cursor")
        if cursor:
            try:
                changes, cursor = self.account.changes(cursor)
            except ClientError as exc:
                if exc.code not in STALE_CURSOR:
                    raise
            else:
                with state.batch():
                    for change in changes:
                        self._apply_change(state, change)
                    state.set_setting("cursor", cursor)
                return state.remote_tree()
        tree, cursor = self.list_tree()
        state.replace_remote(tree, cursor)
        return tree

    def list_tree(self) -> tuple[dict[str, Node], str | None]:
        """Every folder and file under the folder, with the feed's cursor read before."""
        try:
            entries, cursor = self.account.tree(self.root)
        except FileNotFound:
            return {}, None
        tree: dict[str, Node] = {}
        for entry in entries:
            rel = self.rel_of(entry["path"])
            if rel is not None:
                tree[rel] = node_of(entry)
        return tree, cursor

    def wait(self, cursor: str | None, timeout: int) -> bool:
        """Hold until the folder changes after ``cursor`` (True) or ``timeout`` s pass."""
        if not cursor:
            return True
        try:
            return self.account.wait_for_changes(cursor, timeout)
        except ClientError as exc:
            if exc.code in STALE_CURSOR:
                return True
            raise

    def _apply_change(self, state: SyncState, change: dict[str, Any]) -> None:
        rel = self.rel_of(change["path"])
        if rel is None:
            is_root = change["path"].rstrip("/") == self.root.rstrip("/")
            if is_root and change["change"] != "upsert":
                state.set_remote("", None)  # the folder itself went: all of it
            return
        if change["change"] == "delete":
            state.set_remote(rel, None)
            return
        if change["change"] == "move":
            source = self.rel_of(change.get("from") or "")
            if source is not None:
                state.move_remote(source, rel)
        state.set_remote(rel, node_of(change))


def node_of(entry: dict[str, Any]) -> Node:
    """The planner's view of an /api/ entry (folders are all alike)."""
    if entry["is_dir"]:
        return DIR
    return Node(False, entry["hash"], int(entry["size"]), entry.get("version"))
