"""A new version of a large file of which only the changed blocks travel (no Flask).

The file is cut at the master's block size and hashed, block by block and whole; ``POST
/api/blocks`` answers which blocks it lacks among those of the file kept at that path;
``POST /api/delta`` sends the plan and just those blocks (``app.userfiles.delta`` on the
master). A file the master holds none of is better sent whole (tus, resumable):
``upload_changed_blocks`` then answers None, having sent no byte of it.

``Uploads`` is the one way ``mdbx put`` and ``mdbx sync`` store a file at a path: over a
large file already there, only its changed blocks; a new large file's blocks straight to
the nodes (``app.client.direct_put``), or through tus on a master without that call;
anything else as ``AccountClient.upload`` sends it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.client.account_client import AccountClient
from app.client.direct_put import upload_blocks
from app.client.errors import ClientError, FileNotFound
from app.client.transfer import Progress, hash_blocks, read_span

# What the master's tus OPTIONS answer names as its block size.
BLOCK_SIZE_HEADER = "Mdbx-Block-Size"
DEFAULT_BLOCK = 4 * 1024 * 1024


def block_bytes(account: AccountClient) -> int:
    """The master's block size (from its tus OPTIONS answer)."""
    answer = account.client.send("OPTIONS", "/api/tus/")
    raw = answer.headers.get(BLOCK_SIZE_HEADER, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_BLOCK


class Uploads:
    """Stores local files at paths of the user's tree, for one command or sync run."""

    def __init__(self, account: AccountClient) -> None:
        self.account = account
        # Whether the master takes a file's changed blocks (until it answers 404), and
        # its block size (asked at the first large file).
        self.deltas = True
        # Whether a new large file's blocks go straight to the nodes (until the master
        # answers 404: an older one, which takes them through tus).
        self.direct = True
        self._block_size: int | None = None

    def block_size(self) -> int:
        if self._block_size is None:
            self._block_size = block_bytes(self.account)
        return self._block_size

    def upload(self, local: Path, remote: str, progress: Progress | None = None) -> dict[str, Any]:
        """Store ``local`` at ``remote``: ``{"path","size","hash","version","sent_bytes"}``
        (with ``resumed_from`` when a whole upload went on from an earlier one).

        A file of more than one block over a file at ``remote`` sends only the blocks
        the master lacks (an edit); the stat that tells costs one call, against hashing
        the whole file for nothing before a first upload.
        """
        size = local.stat().st_size
        if self.deltas and size > self.block_size() and self._is_file(remote):
            try:
                answer = upload_changed_blocks(
                    self.account, local, remote, self.block_size(), progress
                )
            except ClientError as exc:
                if exc.status not in (404, 405):
                    raise
                self.deltas = False  # a master without the call: whole files from now on
                answer = None
            if answer is not None:
                return answer
        # A tus upload of this file begun earlier (by an older mdbx) goes on as it began.
        resuming = self.account.has_pending_upload(local, remote)
        if self.direct and size > self.block_size() and not resuming:
            try:
                sent = upload_blocks(self.account, local, remote, self.block_size(), progress)
            except ClientError as exc:
                if exc.status not in (404, 405):
                    raise
                sent = None
            if sent is not None:
                return sent
            self.direct = False  # a master without the call: tus from now on
        stored = self.account.upload(local, remote, progress=progress)
        return {**stored, "sent_bytes": size - stored.get("resumed_from", 0)}

    def _is_file(self, remote: str) -> bool:
        try:
            return not self.account.stat(remote)["is_dir"]
        except FileNotFound:
            return False


def upload_changed_blocks(
    account: AccountClient,
    local: Path,
    remote: str,
    block_size: int,
    progress: Progress | None = None,
) -> dict[str, Any] | None:
    """Store ``local`` at ``remote`` sending only the blocks the master lacks; answer
    ``{"path","size","hash","version","sent_bytes"}``, or None when it lacks them all
    (nothing sent: upload the file whole). ClientError 400 hash_mismatch when the file
    changed while it was read."""
    hashed = hash_blocks(local, block_size)
    size, digest, blocks = hashed.size, hashed.hash, hashed.blocks
    asked = account.call(
        "POST", "/api/blocks", json={"path": remote, "size": size, "blocks": blocks}
    )
    if asked["block_size"] != block_size:
        raise ClientError(f"the master's blocks are of {asked['block_size']} bytes", 409)
    missing: list[int] = asked["missing"]
    if len(missing) == len(blocks):
        return None
    plan = {"size": size, "hash": digest, "blocks": blocks, "sent": missing}
    body = DeltaBody(local, json.dumps(plan).encode() + b"\n", missing, block_size, size)
    if progress is not None:
        progress.update(size - len(body) + len(body.line))  # the blocks held: done
    body.progress = progress
    answer = account.call(
        "POST",
        "/api/delta",
        params={"path": remote},
        data=body,
        headers={"Content-Type": "application/octet-stream"},
    )
    return {**answer, "sent_bytes": len(body)}


class DeltaBody:
    """The plan's line, then the blocks at ``indexes``, read as they are sent (with a
    length: requests sends it as a plain body)."""

    def __init__(
        self, path: Path, line: bytes, indexes: list[int], block_size: int, size: int
    ) -> None:
        self.path = path
        self.line = line
        self.progress: Progress | None = None
        self.spans = [
            (i * block_size, min(block_size, size - i * block_size)) for i in sorted(indexes)
        ]

    def __len__(self) -> int:
        return len(self.line) + sum(length for _offset, length in self.spans)

    def __iter__(self) -> Iterator[bytes]:
        yield self.line
        with self.path.open("rb") as stream:
            for offset, length in self.spans:
                yield from read_span(stream, self.path, offset, length, self.progress)
