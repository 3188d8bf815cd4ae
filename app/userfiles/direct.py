"""A user's large file whose blocks the client sends straight to the nodes (``POST
/api/uploads``, PUTs to the nodes, ``POST /api/uploads/<id>/commit``): what ``mdbx put``
sends instead of tus when the master takes it (issue #21).

The rules are those of every other write of a user's file, plus proof of possession.
User files are private: knowing a hash is no proof of holding its bytes, and a hash
must never open another user's content. So a block counts at the commit only if

- a node received its bytes for this very upload and said so in a receipt (the bytes
  hashed to the block's name there; ``app.security.upload_receipt``), or
- it is a block of a file the user keeps at that path (current, or a version), the one
  rule of ``app.userfiles.delta``.

Other copies of a block in the cluster (another user's, a public one) count for nothing:
the block is listed to send like any other. Copies are private (served only through
signed URLs), whatever the client sends. The quota is checked at the start (nothing is
sent that cannot fit) and again as the file is put at its path. The file's SHA-256 is
checked as a tus upload's is (``app.master.account_uploads``), and the entry is put as
every write puts it: a new version, the journal, the change feed.

A put begun again after an interruption is told the same blocks; the client sends
only those it has no receipt for (``app.client.direct_put`` keeps them).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from app.errors import Conflict, InvalidField
from app.metadata.entries import Entry
from app.metadata.master_metadata import NAME_LENGTH
from app.metadata.namespace import NamespaceStore
from app.metadata.records import FileRecord
from app.metadata.uploads import Upload
from app.storage.digests import parse_digest
from app.userfiles.delta import MAX_BLOCKS, DeltaWrites, is_held
from app.userfiles.interface import User
from app.userfiles.paths import InvalidPath, normalize_path
from app.userfiles.quota import check_length


class BlockUploads(Protocol):
    """The master's side (``app.master.account_uploads.AccountBlockUploads``)."""

    def begin(
        self, user_id: int, path: str, size: int, file_hash: str, blocks: Sequence[tuple[str, int]]
    ) -> Upload: ...

    def get(self, user_id: int, upload_id: str) -> Upload: ...

    def targets(self, upload: Upload) -> Callable[[str], dict[str, object]]: ...

    def is_receipt(self, upload: Upload, block_hash: str, size: int, receipt: object) -> bool: ...

    def commit(self, upload: Upload, name: str) -> FileRecord: ...

    def abort(self, upload: Upload) -> None: ...


class DirectUploads:
    """Account uploads of blocks sent to the nodes: begun, described, committed."""

    def __init__(self, namespace: NamespaceStore, blocks: BlockUploads, delta: DeltaWrites):
        self._namespace = namespace
        self._blocks = blocks
        self._delta = delta  # its block rules: the cut, and what the user holds

    @property
    def block_size(self) -> int:
        return self._delta.block_size

    def begin(self, user: User, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Open an upload of ``{"path", "size", "hash", "blocks"}``; answer what to send
        where (``describe``). 400 for a plan that is not the file cut at the block size,
        409 is_a_directory, 413 quota_exceeded."""
        path = self._file_path(user, payload.get("path"))
        size, blocks = payload.get("size"), payload.get("blocks")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidField("size", "'size' must be a whole number of bytes")
        if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
            raise InvalidField("blocks", f"'blocks' must list at most {MAX_BLOCKS} block hashes")
        file_hash = parse_digest(payload.get("hash"))
        wanted = self._delta.check_blocks(size, [parse_digest(b) for b in blocks])
        if user.quota_bytes:
            check_length(size, user.quota_bytes, self._namespace.used_bytes(user.id))
        upload = self._blocks.begin(user.id, path, size, file_hash, wanted)
        return self.describe(user, upload)

    def status(self, user: User, upload_id: str) -> dict[str, Any]:
        return self.describe(user, self._blocks.get(user.id, upload_id))

    def describe(self, user: User, upload: Upload) -> dict[str, Any]:
        """The upload and, for each block the user does not hold, where to PUT it:
        ``missing``, the shape of ``POST /uploads``'s (each distinct block once, with
        the ``indexes`` where it is)."""
        held = self._delta.held_blocks(user, upload.name)
        target = self._blocks.targets(upload)
        missing: dict[str, dict[str, Any]] = {}
        for index, (block_hash, size) in enumerate(upload.blocks):
            if is_held(held, block_hash, size):
                continue
            if block_hash not in missing:
                missing[block_hash] = {
                    "hash": block_hash,
                    "size": size,
                    "indexes": [],
                    **target(block_hash),
                }
            missing[block_hash]["indexes"].append(index)
        return {
            "upload_id": upload.id,
            "path": upload.name,
            "size": upload.size,
            "hash": upload.hash,
            "block_size": upload.block_size,
            "blocks": len(upload.blocks),
            "missing": list(missing.values()),
            "expires_at": upload.expires_at,
        }

    def commit(self, user: User, upload_id: str, receipts: object) -> Entry:
        """Put the upload's file at its path; ``receipts``: ``{block hash: receipt}``
        of the blocks sent. 409 blocks_missing (``missing``: indexes) for blocks neither
        held nor with a valid receipt, or with no live copy; 400 hash_mismatch; 413."""
        if not isinstance(receipts, dict):
            raise InvalidField("receipts", "'receipts' maps each block sent to its receipt")
        upload = self._blocks.get(user.id, upload_id)
        held = self._delta.held_blocks(user, upload.name)
        lacking = [
            index
            for index, (block_hash, size) in enumerate(upload.blocks)
            if not is_held(held, block_hash, size)
            and not self._blocks.is_receipt(upload, block_hash, size, receipts.get(block_hash))
        ]
        if lacking:
            raise Conflict(
                f"{len(lacking)} block(s) were neither sent for this upload nor held: "
                "send them, then commit",
                code="blocks_missing",
                details={"missing": lacking},
            )
        if user.quota_bytes:
            check_length(upload.size, user.quota_bytes, self._namespace.used_bytes(user.id))
        current = self._namespace.get(user.id, upload.name)
        if current is not None and current.is_dir:
            raise Conflict(f"{upload.name} is a folder", code="is_a_directory")
        record = self._blocks.commit(upload, posixpath.basename(upload.name))
        # Refused now (the quota, a folder made meanwhile), the file record is left to
        # the collection, as a refused tus upload's is.
        return self._namespace.put_file(
            user.id, upload.name, record.hash, record.size, user.quota_bytes
        )

    def abort(self, user: User, upload_id: str) -> dict[str, Any]:
        self._blocks.abort(self._blocks.get(user.id, upload_id))
        return {"aborted": upload_id}

    def _file_path(self, user: User, raw: object) -> str:
        path = normalize_path(raw)
        if path == "/":
            raise InvalidPath("the root folder cannot be a file")
        if len(path) > NAME_LENGTH:
            raise InvalidPath(f"a path sent this way is at most {NAME_LENGTH} characters")
        current = self._namespace.get(user.id, path)
        if current is not None and current.is_dir:
            raise Conflict(f"{path} is a folder", code="is_a_directory")
        return path
