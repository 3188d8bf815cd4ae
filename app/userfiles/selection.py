"""What a zip download of a selection holds: each selected file, and each selected folder
with everything below it (empty folders too), named relative to the selection's parent.

A path inside a selected folder is dropped (the folder brings it). Two selected entries
of one name from different folders ("/x/f.txt", "/y/f.txt") become "f.txt" and
"f (2).txt", in the order they were named. No name can climb out of the archive: a
stored name has no "." or ".." segment and no NUL (``app.userfiles.paths``), and a
backslash, which Windows tools split names on, becomes "_".
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence

from app.errors import AppError, MissingField, PayloadTooLarge
from app.metadata.entries import ROOT, Entry, PathNotFound
from app.metadata.namespace import NamespaceStore
from app.userfiles.interface import ArchiveItem, Download, Selection
from app.userfiles.paths import normalize_path

# Bounds on one request: the paths it names, and the entries their trees hold (each is
# a row held in memory until the archive's central directory is written).
MAX_PATHS = 10_000
MAX_ENTRIES = 100_000


class SelectionTooLarge(PayloadTooLarge):
    code = "selection_too_large"


def select(
    namespace: NamespaceStore,
    user_id: int,
    paths: list[str],
    open_contents: Callable[[Sequence[tuple[str, str]]], list[Download]],
    *,
    root_title: str,
) -> Selection:
    """The items of ``paths`` (404 path_not_found for one that is absent, 413
    selection_too_large past the bounds); ``open_contents([(hash, name), ...])`` gives the
    files' contents, found now in one lookup, so that a missing one fails before any byte
    is sent. The paths named are looked up in one query too (a sync's zip names hundreds)."""
    if not paths:
        raise MissingField("path", "name one or more paths to download")
    if len(paths) > MAX_PATHS:
        raise SelectionTooLarge(f"a download names at most {MAX_PATHS} paths")
    chosen = _outermost(list(dict.fromkeys(normalize_path(path) for path in paths)))
    entries: list[tuple[Entry, str]] = []
    try:
        _collect(namespace, user_id, chosen, entries)
    except AppError:
        # The files before the failing path were opened first, one by one: a content
        # gone among them is what the answer said, and still says.
        _open(entries, open_contents)
        raise
    items = _open(entries, open_contents)
    if len(chosen) == 1 and chosen[0] == ROOT:
        title: str | None = root_title
    elif len(chosen) == 1 and items[0].is_dir:
        title = items[0].name
    else:
        title = None
    return Selection(title, len(chosen), items)


def _collect(
    namespace: NamespaceStore, user_id: int, chosen: list[str], entries: list[tuple[Entry, str]]
) -> None:
    """Append each entry of the selection with its name in the archive, in order."""
    found = namespace.get_many(user_id, chosen)
    taken: set[str] = set()
    for path in chosen:
        top = found.get(path)
        if top is None:
            raise PathNotFound(f"nothing at {path}")
        below = namespace.subtree(user_id, path) if top.is_dir else []
        if len(entries) + len(below) + 1 > MAX_ENTRIES:
            raise SelectionTooLarge(f"a download holds at most {MAX_ENTRIES} files and folders")
        if path == ROOT:  # the root's entries are the archive's top level
            entries += [(entry, _archive_name(entry.path)) for entry in below]
            continue
        name = _unique(_archive_name(top.name), top.is_dir, taken)
        entries.append((top, name))
        entries += [(entry, f"{name}/{_archive_name(entry.path[len(path) :])}") for entry in below]


def _open(
    entries: list[tuple[Entry, str]],
    open_contents: Callable[[Sequence[tuple[str, str]]], list[Download]],
) -> list[ArchiveItem]:
    """The archive's items, each file's content opened (all in one call)."""
    wanted = [
        (entry.hash, entry.name)
        for entry, _name in entries
        if entry.hash is not None and not entry.is_dir  # as _is_file: mypy sees it here
    ]
    contents = iter(open_contents(wanted))
    return [
        ArchiveItem(name, False, entry.mtime, next(contents))
        if _is_file(entry)
        else ArchiveItem(name, True, entry.mtime, None)
        for entry, name in entries
    ]


def _outermost(paths: list[str]) -> list[str]:
    """The paths no other one contains, in the order given (the first of two clashing
    names keeps it)."""
    if ROOT in paths:
        return [ROOT]
    given = set(paths)
    return [path for path in paths if not any(other in given for other in _ancestors(path))]


def _ancestors(path: str) -> list[str]:
    found = []
    while path != ROOT:
        path = posixpath.dirname(path)
        found.append(path)
    return found


def _archive_name(path: str) -> str:
    return path.lstrip("/").replace("\\", "_")


def _unique(name: str, is_dir: bool, taken: set[str]) -> str:
    """``name``, or "name (2)" (before a file's extension) if another item has it."""
    stem, extension = (name, "") if is_dir else posixpath.splitext(name)
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{stem} ({number}){extension}"
    taken.add(candidate)
    return candidate


def _is_file(entry: Entry) -> bool:
    return not entry.is_dir and entry.hash is not None
