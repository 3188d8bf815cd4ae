"""What one sync does, decided from three trees: the local folder now, the remote folder
now, and both as they were at the last sync (the base). A pure function: no file, no
network, no clock (the caller passes the time a conflicted copy is named after).

The rules, per path (``L``, ``R``, ``B``; "changed" means different from the base):
- ``L`` and ``R`` the same (both absent, both folders, or files of one hash): nothing
  travels; the base just records it (identical content is no conflict).
- Only one side changed: that side wins (upload, download, mkdir, or delete on the
  other side: remote deletes go to the server's trash, local ones to ``.mdbx-trash``).
- Both changed, one deleted: the edit wins (it is uploaded or downloaded back).
- Both changed to different files: keep both. The local file is renamed
  ``name (conflicted copy HOST YYYY-MM-DD HHMMSS).ext`` and uploaded; the remote one is
  downloaded under the real name. A file against a folder: the file is renamed.
- A file (or a folder with its whole subtree) gone from one side and found unchanged at a
  new path of that side is a move: one move on the other side, no bytes sent.
- A folder deleted on one side stays (and is made again there) if anything under it
  changed on the other side; otherwise it goes as one delete, not one per file.
"""

from __future__ import annotations

import bisect
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime


@dataclass(frozen=True)
class Node:
    """A file (its SHA-256 and size) or a folder, at one path of one tree."""

    is_dir: bool
    hash: str | None = None
    size: int = 0
    # The remote entry's version, kept for the base; two nodes are the same without it.
    version: int | None = field(default=None, compare=False)


DIR = Node(True)
Tree = Mapping[str, Node]

# Action kinds, in the order a plan runs them.
MOVE_REMOTE = "move_remote"  # a local move, done on the server (``target`` is the new path)
MOVE_LOCAL = "move_local"  # a remote move, done here
RENAME_LOCAL = "rename_local"  # a local file moved aside as a conflicted copy
RENAME_REMOTE = "rename_remote"  # a remote file moved aside (it met a local folder)
DELETE_REMOTE = "delete_remote"  # to the server's trash
DELETE_LOCAL = "delete_local"  # to LOCAL/.mdbx-trash/
MKDIR_REMOTE = "mkdir_remote"
MKDIR_LOCAL = "mkdir_local"
UPLOAD = "upload"
DOWNLOAD = "download"
RECORD = "record"  # the same on both sides: the base learns it
FORGET = "forget"  # gone from both sides: the base forgets it

RENAMES = (MOVE_REMOTE, MOVE_LOCAL, RENAME_LOCAL, RENAME_REMOTE)
DELETES = (DELETE_REMOTE, DELETE_LOCAL)
MKDIRS = (MKDIR_REMOTE, MKDIR_LOCAL)
TRANSFERS = (UPLOAD, DOWNLOAD)


@dataclass(frozen=True)
class Action:
    """One step. ``node`` is what the step leaves at ``path`` (``target`` for a rename):
    the local file for an upload, the remote one for a download or a record."""

    kind: str
    path: str
    target: str | None = None
    node: Node | None = None


@dataclass
class Plan:
    """The steps of one sync, in the order they run, and what they delete."""

    actions: list[Action]
    deleted_files: int
    base_files: int

    def deleted_share(self) -> float:
        """Percent of the base's files this plan deletes (on either side)."""
        return 100.0 * self.deleted_files / self.base_files if self.base_files else 0.0

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for action in self.actions:
            found[action.kind] = found.get(action.kind, 0) + 1
        return found


def plan_sync(local: Tree, remote: Tree, base: Tree, *, host: str, now: datetime) -> Plan:
    """Decide every step that makes the two trees one, losing neither side's changes."""
    trees = _Trees(dict(local), dict(remote), dict(base))
    base_files = sum(1 for node in base.values() if not node.is_dir)
    renames: list[Action] = []
    # Conflicts first: a file set aside may free the path a move goes to.
    _set_conflicts_aside(trees, renames, host, now)
    _detect_folder_moves(trees, renames)
    _detect_file_moves(trees, renames)
    decided = [action for path in trees.paths() for action in _decide(trees, path)]
    decided = _keep_folders_in_use(decided)
    deleted_files = sum(1 for a in decided if a.kind in DELETES and a.node and not a.node.is_dir)
    ordered = renames + _collapse_deletes([a for a in decided if a.kind in DELETES])
    ordered += sorted((a for a in decided if a.kind in MKDIRS), key=lambda a: a.path)
    ordered += [a for a in decided if a.kind in TRANSFERS]
    ordered += [a for a in decided if a.kind in (RECORD, FORGET)]
    return Plan(ordered, deleted_files, base_files)


def conflicted_name(path: str, host: str, now: datetime, taken: set[str] | None = None) -> str:
    """``dir/name (conflicted copy HOST YYYY-MM-DD HHMMSS).ext``, unique among ``taken``."""
    folder, name = posixpath.split(path)
    stem, ext = posixpath.splitext(name)
    if stem == "":  # a dotfile such as ".profile": its whole name is the stem
        stem, ext = ext, ""
    label = f"conflicted copy {host} {now:%Y-%m-%d %H%M%S}"
    for n in range(1, 1000):
        extra = f" {n}" if n > 1 else ""
        candidate = posixpath.join(folder, f"{stem} ({label}{extra}){ext}")
        if not taken or candidate not in taken:
            return candidate
    raise ValueError(f"no free conflicted-copy name for {path}")


# ----- the three trees, with the subtree queries the rules need -----


@dataclass
class _Trees:
    local: dict[str, Node]
    remote: dict[str, Node]
    base: dict[str, Node]

    def paths(self) -> list[str]:
        return sorted(set(self.local) | set(self.remote) | set(self.base))

    def taken(self) -> set[str]:
        return set(self.local) | set(self.remote) | set(self.base)


def _under(tree: Mapping[str, Node], keys: list[str], top: str) -> Iterator[str]:
    """The paths strictly below ``top`` in ``tree`` (``keys``: its sorted paths)."""
    prefix = top + "/"
    for i in range(bisect.bisect_left(keys, prefix), len(keys)):
        if not keys[i].startswith(prefix):
            break
        yield keys[i]


def _subtree(tree: Mapping[str, Node], keys: list[str], top: str) -> frozenset[tuple[str, Node]]:
    """What is below ``top``, as (path relative to ``top``, node) pairs."""
    return frozenset((path[len(top) + 1 :], tree[path]) for path in _under(tree, keys, top))


def _move_subtree(tree: dict[str, Node], source: str, target: str) -> None:
    moved = [p for p in tree if p == source or p.startswith(source + "/")]
    for path in moved:
        tree[target + path[len(source) :]] = tree.pop(path)


def _parent_kept(tree: Mapping[str, Node], path: str) -> bool:
    parent = posixpath.dirname(path)
    return parent == "" or parent in tree


def _can_hold(tree: Mapping[str, Node], path: str) -> bool:
    """Whether ``path`` can be made in ``tree``: no file on the way to it."""
    parent = posixpath.dirname(path)
    while parent:
        node = tree.get(parent)
        if node is not None and not node.is_dir:
            return False
        parent = posixpath.dirname(parent)
    return True


# ----- moves -----


def _sides(trees: _Trees) -> list[tuple[dict[str, Node], dict[str, Node], str]]:
    """(side that moved, side that must follow, the action that follows)."""
    return [(trees.local, trees.remote, MOVE_REMOTE), (trees.remote, trees.local, MOVE_LOCAL)]


def _detect_folder_moves(trees: _Trees, renames: list[Action]) -> None:
    """A folder gone from one side whose whole (non-empty) subtree reappears at a new
    folder of that side, while the other side kept it as it was: one move."""
    for moved, follower, kind in _sides(trees):
        base_keys, moved_keys, follower_keys = (sorted(t) for t in (trees.base, moved, follower))
        gone = [
            path
            for path in base_keys
            if trees.base[path].is_dir
            and path not in moved
            and _parent_kept(moved, path)
            and follower.get(path) == DIR
        ]
        new = [
            path
            for path in moved_keys
            if moved[path].is_dir
            and path not in trees.base
            and path not in follower
            and _can_hold(follower, path)
        ]
        for source in gone:
            before = _subtree(trees.base, base_keys, source)
            if not before or _subtree(follower, follower_keys, source) != before:
                continue
            for target in new:
                if before <= _subtree(moved, moved_keys, target):
                    renames.append(Action(kind, source, target, DIR))
                    _move_subtree(follower, source, target)
                    _move_subtree(trees.base, source, target)
                    new.remove(target)
                    base_keys, follower_keys = sorted(trees.base), sorted(follower)
                    break


def _detect_file_moves(trees: _Trees, renames: list[Action]) -> None:
    """A file gone from one side, unchanged on the other, whose content appears at a new
    path of the first side (nothing there on the other): one move, paired by hash."""
    for moved, follower, kind in _sides(trees):
        arrivals: dict[str | None, list[str]] = {}
        for path in sorted(moved):
            node = moved[path]
            if (
                not node.is_dir
                and path not in trees.base
                and path not in follower
                and _can_hold(follower, path)
            ):
                arrivals.setdefault(node.hash, []).append(path)
        for source in sorted(trees.base):
            node = trees.base[source]
            if node.is_dir or source in moved or follower.get(source) != node:
                continue
            targets = arrivals.get(node.hash)
            if targets:
                target = targets.pop(0)
                renames.append(Action(kind, source, target, follower[source]))
                follower[target] = follower.pop(source)
                trees.base[target] = trees.base.pop(source)


# ----- conflicts -----


def _set_conflicts_aside(trees: _Trees, renames: list[Action], host: str, now: datetime) -> None:
    """Where both sides changed a path differently, move one file aside so both stay."""
    local_keys, remote_keys, base_keys = (
        sorted(t) for t in (trees.local, trees.remote, trees.base)
    )
    taken = trees.taken()
    for path in sorted(set(trees.local) & set(trees.remote)):
        here, there, before = trees.local[path], trees.remote.get(path), trees.base.get(path)
        if there is None or here == there:
            continue
        if not here.is_dir and not there.is_dir:
            clash = here != before and there != before
        else:
            file_side, dir_side = (
                (trees.local, trees.remote)
                if not here.is_dir
                else (
                    trees.remote,
                    trees.local,
                )
            )
            dir_keys = local_keys if dir_side is trees.local else remote_keys
            dir_changed = before != DIR or _subtree(dir_side, dir_keys, path) != _subtree(
                trees.base, base_keys, path
            )
            clash = file_side[path] != before and dir_changed
        if not clash:
            continue
        aside = conflicted_name(path, host, now, taken)
        taken.add(aside)
        if not here.is_dir:
            renames.append(Action(RENAME_LOCAL, path, aside, here))
            trees.local[aside] = trees.local.pop(path)
        else:
            renames.append(Action(RENAME_REMOTE, path, aside, there))
            trees.remote[aside] = trees.remote.pop(path)


# ----- one path -----


def _decide(trees: _Trees, path: str) -> list[Action]:
    here, there, before = trees.local.get(path), trees.remote.get(path), trees.base.get(path)
    if here == there:
        if here is None:
            return [Action(FORGET, path)]
        assert there is not None
        if before != there or (before is not None and before.version != there.version):
            return [Action(RECORD, path, node=there)]
        return []
    local_changed, remote_changed = here != before, there != before
    if local_changed and not remote_changed:
        return _push(path, here, there)
    if remote_changed and not local_changed:
        return _pull(path, here, there)
    # Both changed and differ; conflicts were set aside, so one side is gone: the edit wins.
    if here is None:
        return _pull(path, here, there)
    assert there is None, f"unresolved conflict at {path}"
    return _push(path, here, there)


def _push(path: str, here: Node | None, there: Node | None) -> list[Action]:
    """Make the remote side what the local side is."""
    actions = []
    if there is not None and (here is None or here.is_dir != there.is_dir):
        actions.append(Action(DELETE_REMOTE, path, node=there))
    if here is not None:
        actions.append(Action(MKDIR_REMOTE if here.is_dir else UPLOAD, path, node=here))
    return actions


def _pull(path: str, here: Node | None, there: Node | None) -> list[Action]:
    """Make the local side what the remote side is."""
    actions = []
    if here is not None and (there is None or here.is_dir != there.is_dir):
        actions.append(Action(DELETE_LOCAL, path, node=here))
    if there is not None:
        actions.append(Action(MKDIR_LOCAL if there.is_dir else DOWNLOAD, path, node=there))
    return actions


def _keep_folders_in_use(actions: list[Action]) -> list[Action]:
    """A folder deleted on one side is kept if anything under it is kept or made: it is
    made again on the side it is missing from instead."""
    kept_under: dict[str, set[str]] = {DELETE_LOCAL: set(), DELETE_REMOTE: set()}
    for action in actions:
        for kind in kept_under:
            if action.kind not in (kind, FORGET):
                parent = posixpath.dirname(action.path)
                while parent:
                    kept_under[kind].add(parent)
                    parent = posixpath.dirname(parent)
    out = []
    for action in actions:
        is_folder = action.node is not None and action.node.is_dir
        if action.kind in DELETES and is_folder and action.path in kept_under[action.kind]:
            other = MKDIR_REMOTE if action.kind == DELETE_LOCAL else MKDIR_LOCAL
            out.append(replace(action, kind=other, node=DIR))
            continue
        out.append(action)
    return out


def _collapse_deletes(deletes: list[Action]) -> list[Action]:
    """One delete per deleted folder: what is under it goes with it."""
    folders = {(a.kind, a.path) for a in deletes if a.node is not None and a.node.is_dir}
    out = []
    for action in deletes:
        parent = posixpath.dirname(action.path)
        covered = False
        while parent and not covered:
            covered = (action.kind, parent) in folders
            parent = posixpath.dirname(parent)
        if not covered:
            out.append(action)
    return out
