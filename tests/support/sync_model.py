"""Both sides of a sync in memory, for the planner's tests: a local folder (with its
.mdbx-trash), a remote folder (with the server's trash and old versions) and the base,
each changed by the same action semantics as ``app.client.sync.engine``."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.client.sync import planner
from app.client.sync.planner import DIR, Action, Node, plan_sync

# A file's "hash" is its content here: what is reachable is what can be compared.
Tree = dict[str, Node]


def file(content: str) -> Node:
    return Node(False, content, len(content))


@dataclass
class Side:
    tree: Tree = field(default_factory=dict)
    # Contents set aside: the server's trash and versions, or the local .mdbx-trash.
    kept: list[str] = field(default_factory=list)

    def contents(self) -> set[str]:
        return {n.hash for n in self.tree.values() if n.hash is not None} | set(self.kept)

    def can_hold(self, path: str) -> bool:
        """Whether ``path`` could be made (no file on the way to it)."""
        parent = posixpath.dirname(path)
        while parent:
            node = self.tree.get(parent)
            if node is not None and not node.is_dir:
                return False
            parent = posixpath.dirname(parent)
        return True

    def makedirs(self, path: str) -> None:
        while path and path not in self.tree:
            self.tree[path] = DIR
            path = posixpath.dirname(path)

    def write(self, path: str, content: str, *, keep_old: bool) -> None:
        old = self.tree.get(path)
        assert old is None or not old.is_dir, f"write over folder {path}"
        if old is not None and keep_old:
            assert old.hash is not None
            self.kept.append(old.hash)
        self.makedirs(posixpath.dirname(path))
        self.tree[path] = file(content)

    def subtree(self, path: str) -> list[str]:
        return [p for p in self.tree if p == path or p.startswith(path + "/")]

    def remove(self, path: str, *, keep: bool) -> None:
        for p in self.subtree(path):
            node = self.tree.pop(p)
            if keep and node.hash is not None:
                self.kept.append(node.hash)

    def move(self, source: str, target: str) -> None:
        assert source in self.tree, f"move of missing {source}"
        assert target not in self.tree, f"move onto {target}"
        self.makedirs(posixpath.dirname(target))
        for p in self.subtree(source):
            self.tree[target + p[len(source) :]] = self.tree.pop(p)


@dataclass
class World:
    local: Side = field(default_factory=Side)
    remote: Side = field(default_factory=Side)
    base: Tree = field(default_factory=dict)
    clock: datetime = datetime(2026, 1, 2, 3, 4, 5)

    def plan(self) -> planner.Plan:
        self.clock += timedelta(seconds=1)
        return plan_sync(self.local.tree, self.remote.tree, self.base, host="box", now=self.clock)

    def sync(self, stop_after: int | None = None, *, torn: bool = False) -> planner.Plan:
        """Run one sync; ``stop_after``: a crash after that many actions (``torn``: the
        last one done but not yet recorded in the base)."""
        plan = self.plan()
        for index, action in enumerate(plan.actions):
            if stop_after is not None and index >= stop_after:
                break
            self.apply(action)
            if not (torn and stop_after is not None and index == stop_after - 1):
                self.record(action)
        return plan

    def apply(self, action: Action) -> None:
        kind, path, target = action.kind, action.path, action.target
        if kind in (planner.MOVE_REMOTE, planner.RENAME_REMOTE):
            assert target is not None
            self.remote.move(path, target)
        elif kind in (planner.MOVE_LOCAL, planner.RENAME_LOCAL):
            assert target is not None
            self.local.move(path, target)
        elif kind == planner.DELETE_REMOTE:
            assert path in self.remote.tree
            self.remote.remove(path, keep=True)
        elif kind == planner.DELETE_LOCAL:
            assert path in self.local.tree
            self.local.remove(path, keep=True)
        elif kind == planner.MKDIR_REMOTE:
            self.remote.makedirs(path)
        elif kind == planner.MKDIR_LOCAL:
            self.local.makedirs(path)
        elif kind == planner.UPLOAD:
            node = self.local.tree[path]
            assert node == action.node
            assert node.hash is not None
            self.remote.write(path, node.hash, keep_old=True)
        elif kind == planner.DOWNLOAD:
            node = self.remote.tree[path]
            assert node == action.node
            assert node.hash is not None
            # The engine writes over a local file only as the plan saw it (else it waits).
            self.local.write(path, node.hash, keep_old=False)

    def record(self, action: Action) -> None:
        kind, path, target = action.kind, action.path, action.target
        if kind in (planner.MOVE_REMOTE, planner.MOVE_LOCAL):
            assert target is not None
            for p in [p for p in self.base if p == path or p.startswith(path + "/")]:
                self.base[target + p[len(path) :]] = self.base.pop(p)
        elif kind in planner.DELETES:
            for p in [p for p in self.base if p == path or p.startswith(path + "/")]:
                del self.base[p]
        elif kind in planner.MKDIRS:
            self.base[path] = DIR
        elif kind in (planner.UPLOAD, planner.DOWNLOAD, planner.RECORD):
            assert action.node is not None
            self.base[path] = action.node
        elif kind == planner.FORGET:
            self.base.pop(path, None)

    def reachable(self) -> set[str]:
        return self.local.contents() | self.remote.contents()

    def files(self, side: Side) -> dict[str, str | None]:
        return {p: n.hash for p, n in side.tree.items()}
