"""The block upload protocol: announce, send the missing blocks to nodes, commit.

1. ``POST /uploads`` with the file's hash, size, block size and block hashes: the answer
   lists the blocks the cluster lacks and, for each, the node URL to PUT it to (the
   node forwards it down a chain to R copies).
2. The client PUTs those blocks, in parallel, straight to the nodes.
3. ``POST /uploads/<id>/commit``: every block must have a live copy, and the blocks
   read back must hash to the file's hash; only then does the file appear.

A client that was interrupted announces the file again and is told only what is
still missing: blocks already sent are in the cluster, and resending nothing is the
whole resume protocol. ``GET /uploads/<id>`` answers the same for an open upload.

Knowing a hash is no proof of holding its bytes (the "Dropship" problem of deduplicating
stores): a file or block is in the cluster, for an upload, only where anyone may read it
by its hash (a public file, a public copy: ``app.metadata.visibility``). Content only
signed URLs read is answered exactly as if absent: no size check, no ``complete``, its
blocks listed missing; the upload commits once they were sent, each checked against its
hash by the node that took it, whose copy is then public (its sender had the bytes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from app.config import MAX_BLOCK_SIZE
from app.errors import Conflict, HashMismatch, InvalidField, ServiceUnavailable
from app.master.placement import choose_nodes
from app.master.reader import BlockReader
from app.master.validation import parse_upload_plan
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.records import Block, FileRecord, NodeRecord
from app.metadata.uploads import OpenUploadLimits, Upload, UploadStore
from app.security import UrlSigner


class UploadService:
    """Begins, reports, commits and aborts block uploads."""

    def __init__(
        self,
        store: FileCatalogue,
        uploads: UploadStore,
        reader: BlockReader,
        live_nodes: Callable[[], list[NodeRecord]],
        *,
        replication: int,
        block_size: int,
        ttl: float,
        signer: UrlSigner,
        limits: OpenUploadLimits | None = None,
    ) -> None:
        self.store = store
        self.uploads = uploads
        self.reader = reader
        self.live_nodes = live_nodes
        self.replication = replication
        self.block_size = block_size
        self.ttl = ttl
        self.signer = signer
        self.limits = limits or OpenUploadLimits()

    def begin(self, payload: dict[str, Any], owner: str = "") -> dict[str, Any]:
        """Open an upload, or answer at once when the cluster has the file already.

        ``owner`` names the client for the limits of what it may hold open (429).
        """
        # Any block size a node takes in one request; BLOCK_SIZE is the advertised one.
        plan = parse_upload_plan(payload, MAX_BLOCK_SIZE)
        existing = self.store.get(plan.hash)
        if existing is not None and existing.public:
            if existing.size != plan.size:
                raise InvalidField("size", f"{plan.hash} is stored with {existing.size} bytes")
            renamed = self.store.rename(plan.hash, plan.name) or existing
            file = renamed.public_view().to_dict()
            return {"upload_id": None, "complete": True, "file": file, "missing": []}
        upload = self.uploads.begin(
            plan.name,
            plan.size,
            plan.hash,
            plan.block_size,
            plan.blocks,
            self.ttl,
            owner=owner,
            limits=self.limits,
        )
        return self._describe(upload)

    def status(self, upload_id: str) -> dict[str, Any]:
        """What an open upload still lacks, with where to send it."""
        return self._describe(self.uploads.get(upload_id))

    def commit(self, upload_id: str) -> dict[str, Any]:
        """Check every block and the whole file's hash, then make the file appear."""
        upload = self.uploads.get(upload_id)
        live = self.live_nodes()
        record = self._manifest(upload, {node.id for node in live})
        missing = sorted({b.hash for b in record.blocks if not b.replicas})
        if missing:
            raise Conflict(
                f"{len(missing)} block(s) have no live copy yet: send them, then commit",
                code="blocks_missing",
                details={"missing": missing},
            )
        if len(upload.blocks) == 1:
            # One block is the file itself: a plain file, as the reference stores it.
            self.uploads.abort(upload.id)
            committed = self.store.register(FileRecord(upload.hash, upload.name, upload.size))
        else:
            digest = hashlib.sha256()
            for chunk in self.reader.iter_range(record, 0, record.size):
                digest.update(chunk)
            if digest.hexdigest() != upload.hash:
                self.uploads.abort(upload.id)
                raise HashMismatch(
                    f"the blocks hash to {digest.hexdigest()}, not to {upload.hash}; "
                    "the upload is closed"
                )
            committed = self.uploads.commit(upload)
        committed = committed.public_view()
        copies = min(len(set(part.replicas)) for part in committed.parts)
        return {**committed.to_dict(), "copies": copies, "replication": self.replication}

    def abort(self, upload_id: str) -> dict[str, Any]:
        self.uploads.abort(upload_id)
        return {"aborted": upload_id}

    def _manifest(self, upload: Upload, live_ids: set[str]) -> FileRecord:
        """The upload as a file whose blocks list only their live public copies: a block
        with none is missing, whatever private copies it has (see the module's docstring)."""
        copies = self.store.blob_copies([h for h, _size in upload.blocks], public_only=True)
        blocks = []
        offset = 0
        for block_hash, size in upload.blocks:
            held = tuple(n for n in copies.get(block_hash, ()) if n in live_ids)
            blocks.append(Block(block_hash, size, offset, held))
            offset += size
        return FileRecord(
            upload.hash, upload.name, upload.size, (), tuple(blocks), upload.block_size
        )

    def _describe(self, upload: Upload) -> dict[str, Any]:
        live = self.live_nodes()
        record = self._manifest(upload, {node.id for node in live})
        # The same nodes for every block: one of them can then send the whole file.
        targets = choose_nodes(live, self.replication)
        missing: dict[str, dict[str, Any]] = {}
        for index, block in enumerate(record.blocks):
            if block.replicas:
                continue
            if block.hash not in missing:
                missing[block.hash] = {
                    "hash": block.hash,
                    "size": block.size,
                    "indexes": [],
                    **self._target(block.hash, targets),
                }
            missing[block.hash]["indexes"].append(index)
        return {
            "upload_id": upload.id,
            "complete": False,
            "name": upload.name,
            "size": upload.size,
            "hash": upload.hash,
            "block_size": upload.block_size,
            "blocks": len(upload.blocks),
            "missing": list(missing.values()),
            "expires_at": upload.expires_at,
        }

    def _target(self, block_hash: str, nodes: list[NodeRecord]) -> dict[str, Any]:
        """Where to PUT a block: the first node stores it and forwards down the chain.

        In secured mode the URL is signed for this block and this chain; the nodes of
        the chain pass the block on with the cluster secret, so they need no token.
        """
        if not nodes:
            raise ServiceUnavailable("no storage node is available", code="no_live_nodes")
        params = {"hash": block_hash, "kind": "block"}
        if len(nodes) > 1:
            params["chain"] = ",".join(node.url for node in nodes[1:])
        return {
            "url": self.signer.write_url(f"{nodes[0].url}/upload?{urlencode(params)}", block_hash),
            "method": "PUT",
            "nodes": [node.id for node in nodes],
        }
