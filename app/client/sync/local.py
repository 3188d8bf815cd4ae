"""The local side of a sync: what the folder holds now, and what sync leaves alone.

A scan walks the folder (symlinks are not followed, nor synced) and hashes each file
whose size, ``mtime_ns`` and inode changed since the last sync recorded it; a file
changed within the last two seconds is hashed again anyway, as its next write could
keep the same ``mtime_ns`` (git's "racy" files). Left out: ``.mdbx/`` (the state),
``.mdbx-trash/``, the temp files of downloads, what ``.mdbxignore`` names (gitignore
syntax, at the top of the folder), editors' temp files, and the excluded folders.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pathspec

from app.client.sync.planner import DIR, Node
from app.client.sync.state import STATE_DIR, LocalStat

IGNORE_FILE = ".mdbxignore"
TRASH_DIR = ".mdbx-trash"
# Editors', office suites' and downloaders' temp and lock files, and the OS's litter.
DEFAULT_IGNORED = (
    "*.swp",
    "*.swo",
    "*~",
    ".#*",
    "#*#",
    "~$*",
    ".~lock.*#",
    ".DS_Store",
    "Thumbs.db",
    "desktop.ini",
    "*.tmp",
    "*.part",
    "*.crdownload",
    ".fuse_hidden*",
)
# The defaults are all patterns of a base name: one regular expression (fnmatch's syntax
# is gitignore's for these) matches them all at once.
DEFAULT_IGNORED_NAMES = re.compile("|".join(fnmatch.translate(p) for p in DEFAULT_IGNORED))
# Whose hash a scan trusts only if its mtime is older than this (nanoseconds).
RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class Scan:
    """The local tree, and the stat of each file in it."""

    tree: dict[str, Node]
    stats: dict[str, LocalStat]
    hashed: int  # files read to hash them (the others came from the cache)


class SyncRules:
    """Which relative paths a sync leaves out, on both sides."""

    def __init__(self, patterns: Iterable[str] = (), excluded: Iterable[str] = ()) -> None:
        lines = [line for line in patterns if line.strip() and not line.startswith("#")]
        # pathspec costs ~60 us a path: asked only when .mdbxignore has rules.
        self._spec = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
        self.excluded = sorted({folder.strip("/") for folder in excluded if folder.strip("/")})

    @classmethod
    def of_folder(cls, root: Path, excluded: Iterable[str] = ()) -> SyncRules:
        """The rules of ``root``: its ``.mdbxignore`` (if any) and the excluded folders."""
        try:
            patterns = (root / IGNORE_FILE).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            patterns = []
        return cls(patterns, excluded)

    def is_left_out(self, path: str, is_dir: bool) -> bool:
        top = path.split("/", 1)[0]
        if top in (STATE_DIR, TRASH_DIR):
            return True
        for folder in self.excluded:
            if path == folder or path.startswith(folder + "/"):
                return True
        if DEFAULT_IGNORED_NAMES.match(path.rsplit("/", 1)[-1]):
            return True
        return self._spec is not None and self._spec.match_file(path + "/" if is_dir else path)

    def filter(self, tree: Mapping[str, Node]) -> dict[str, Node]:
        """``tree`` without what is left out (nor what is below a folder left out)."""
        kept: dict[str, Node] = {}
        dropped: set[str] = set()
        for path in sorted(tree):
            node = tree[path]
            if _has_ancestor_in(path, dropped) or self.is_left_out(path, node.is_dir):
                dropped.add(path)
                continue
            kept[path] = node
        return kept


def _has_ancestor_in(path: str, folders: set[str]) -> bool:
    while "/" in path:
        path = path.rsplit("/", 1)[0]
        if path in folders:
            return True
    return False


def stat_of(result: os.stat_result) -> LocalStat:
    return LocalStat(result.st_size, result.st_mtime_ns, result.st_ino)


def file_hash(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def scan_folder(root: Path, rules: SyncRules, cache: Mapping[str, tuple[LocalStat, str]]) -> Scan:
    """Walk ``root``: every folder and file the rules keep, hashed through ``cache``."""
    tree: dict[str, Node] = {}
    stats: dict[str, LocalStat] = {}
    hashed = 0
    racy_after = time.time_ns() - RACY_NS
    pending = [("", root)]
    while pending:
        prefix, folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            continue  # gone while we walked: the next scan sees it
        for entry in entries:
            rel = prefix + entry.name
            if entry.is_symlink():
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            if not is_dir and not entry.is_file(follow_symlinks=False):
                continue  # sockets, fifos, devices
            if rules.is_left_out(rel, is_dir):
                continue
            if is_dir:
                tree[rel] = DIR
                pending.append((rel + "/", Path(entry.path)))
                continue
            try:
                stat = stat_of(entry.stat(follow_symlinks=False))
                cached = cache.get(rel)
                if cached is not None and cached[0] == stat and stat.mtime_ns < racy_after:
                    digest = cached[1]
                else:
                    digest = file_hash(Path(entry.path))
                    hashed += 1
            except FileNotFoundError:
                continue
            tree[rel] = Node(False, digest, stat.size)
            stats[rel] = stat
    return Scan(tree, stats, hashed)


def local_path(root: Path, rel: str) -> Path:
    return root.joinpath(*rel.split("/"))


def unique_path(path: Path) -> Path:
    """``path``, or ``path`` with `` (2)``, `` (3)``... where something is there already."""
    if not path.exists():
        return path
    for n in range(2, 10_000):
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(path)


def move_to_trash(root: Path, rel: str) -> Path:
    """Move a local file or folder to ``ROOT/.mdbx-trash/`` at its relative path."""
    source = local_path(root, rel)
    target = unique_path(local_path(root / TRASH_DIR, rel))
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    return target


def make_room(root: Path, rel: str) -> None:
    """Make the folders on the way to ``rel``."""
    local_path(root, rel).parent.mkdir(parents=True, exist_ok=True)
