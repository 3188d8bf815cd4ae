"""The bytes of a sync: uploads (many small files in one ``POST /api/batch``, an edit of
a large file as its changed blocks only, any other as ``mdbx put`` sends it) and
downloads (small files of one folder in one zip from ``POST /api/zip``, a larger one
streamed), each written to a temp file beside its target,
checked against the hash the plan expects, and renamed only if the local file is still
as the scan saw it. Runs on the engine's worker threads; records nothing itself.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from app.client.account_client import AccountClient
from app.client.block_delta import Uploads
from app.client.errors import ClientError
from app.client.sync import planner
from app.client.sync.local import local_path, stat_of
from app.client.sync.planner import Action, Node
from app.client.sync.remote import RemoteFolder
from app.client.sync.state import LocalStat
from app.client.transfer import CHUNK, PartFile, write_all

# Uploads sent in one POST /api/batch: files of at most one block, at most this many
# files and bytes a request (the master takes 1,000 and 64 MiB; smaller keeps a request
# short and lets several go at once).
BATCH_FILE_BYTES = 4 * 1024 * 1024
BATCH_FILES = 250
BATCH_BYTES = 16 * 1024 * 1024
# Downloads fetched in one zip: files of a folder up to this size, read whole in memory.
ZIP_FILE_BYTES = 1024 * 1024
ZIP_MIN_FILES = 3

# What one move of a file leaves: the node now on both sides, the local stat, bytes.
Moved = tuple[Node, LocalStat, int]
# The master's answer for one file of a batch, and the stat of what was sent.
BatchResult = tuple[dict[str, Any], LocalStat]


class ChangedMeanwhile(ClientError):
    """The file changed since the plan was made: the action waits for the next run."""


class Transfers:
    """Moves files between the folder ``root`` and ``remote``; ``check(rel)`` raises
    ``ChangedMeanwhile`` unless the local file is as the scan saw it, else its stat."""

    def __init__(
        self,
        account: AccountClient,
        remote: RemoteFolder,
        root: Path,
        check: Callable[[str], LocalStat | None],
    ) -> None:
        self.account = account
        self.remote = remote
        self.root = root
        self.check = check
        # Whether the master has the batch call (until it answers 404).
        self.batches = True
        self.uploads = Uploads(account)

    def upload(self, action: Action) -> Moved:
        """One file: a file of more than a block sends only the blocks the master lacks
        when it holds others of it at that path (an edit: ``app.client.block_delta``)."""
        path = local_path(self.root, action.path)
        # The stat before reading: a change made while it is sent shows on the next scan.
        before = stat_of(os.stat(path, follow_symlinks=False))
        answer = self.uploads.upload(path, self.remote.path_of(action.path))
        node = Node(False, answer["hash"], answer["size"], answer["version"])
        return node, before, answer["sent_bytes"]

    def upload_batch(self, group: list[Action]) -> list[BatchResult]:
        if not self.batches:
            raise ClientError("no batch call", 404, "not_found")
        files: list[tuple[str, bytes]] = []
        stats: list[LocalStat] = []
        for action in group:
            with local_path(self.root, action.path).open("rb") as stream:
                stats.append(stat_of(os.fstat(stream.fileno())))
                files.append((action.path, stream.read()))
        answers = self.account.put_batch(self.remote.root, files)
        return list(zip(answers, stats, strict=True))

    def download(self, action: Action) -> Moved:
        with self.account.open_file(self.remote.path_of(action.path)) as response:
            return self._place(action, response.iter_content(CHUNK))

    def download_zip(self, group: list[Action]) -> list[Moved | Exception]:
        """The files of one folder in one zip; each written as ``download`` writes it (a
        file the zip lacks or that fails is an exception in its place)."""
        paths = [self.remote.path_of(action.path) for action in group]
        with self.account.open_zip(paths) as response:
            body = response.content
        results: list[Moved | Exception] = []
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            for action in group:
                try:
                    data = archive.read(posixpath.basename(action.path))
                    results.append(self._place(action, [data]))
                except (KeyError, ClientError, OSError) as exc:
                    results.append(exc)
        return results

    def _place(self, action: Action, chunks: Iterable[bytes]) -> Moved:
        assert action.node is not None
        dest = local_path(self.root, action.path)
        with PartFile(dest) as part:
            hasher = hashlib.sha256()
            size = 0
            for data in chunks:
                hasher.update(data)
                write_all(part.fd, data)
                size += len(data)
            if hasher.hexdigest() != action.node.hash:
                # The remote file changed since it was listed: the next run fetches it.
                raise ChangedMeanwhile(f"{action.path} changed on the server")
            os.fsync(part.fd)
            self.check(action.path)
            part.keep()
        return action.node, stat_of(os.stat(dest, follow_symlinks=False)), size


def split_transfers(
    actions: list[Action],
) -> tuple[list[list[Action]], list[list[Action]], list[Action]]:
    """(batches of small uploads, zips of small downloads by folder, the rest)."""
    small_up = [a for a in actions if a.kind == planner.UPLOAD and _size(a) <= BATCH_FILE_BYTES]
    by_folder: dict[str, list[Action]] = {}
    for action in actions:
        if action.kind == planner.DOWNLOAD and _size(action) <= ZIP_FILE_BYTES:
            by_folder.setdefault(posixpath.dirname(action.path), []).append(action)
    zipped = [group for group in by_folder.values() if len(group) >= ZIP_MIN_FILES]
    grouped = {id(a) for group in zipped for a in group} | {id(a) for a in small_up}
    rest = [a for a in actions if id(a) not in grouped]
    return _groups(small_up), [g for group in zipped for g in _groups(group)], rest


def _size(action: Action) -> int:
    return action.node.size if action.node is not None else 0


def _groups(actions: list[Action]) -> list[list[Action]]:
    """Cut into groups of at most ``BATCH_FILES`` files and ``BATCH_BYTES``."""
    groups: list[list[Action]] = []
    size = 0
    for action in actions:
        if not groups or len(groups[-1]) >= BATCH_FILES or size + _size(action) > BATCH_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(action)
        size += _size(action)
    return groups
