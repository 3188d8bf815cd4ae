"""A user's large file sent straight to the nodes (issue #21): where each block goes, what
proves it was sent, and the commit of its manifest. No user rules here:
``app.userfiles.direct`` decides who may do what, and puts the file at its path.

1. ``begin`` opens an upload in the ``UploadStore`` (owner ``user:<id>``: its blocks
   referenced while it lasts, counted in the open-upload limits).
2. The client PUTs each block to the first of R nodes (``target``): a private copy,
   signed for that blob, its chain and this upload. The node checks the block's SHA-256,
   makes it durable, forwards it down the chain and answers a receipt
   (``app.security.upload_receipt``), which only a node that received the bytes can give.
3. ``commit``: every block has a live copy, the whole-file hash is proven, then the
   manifest is written as a tus upload's is.

The file's SHA-256 is what its entry is known by, and what ``mdbx get`` and sync check:
as tus and deltas do, it is checked, never taken on the client's word. A file record is
shared by hash, so an unchecked one would let a client bind its path to content it
lacks, or squat a hash with other bytes. It is proven without carrying the bytes to the
master (``_prove_hash``):

- one block: its hash is the file's;
- a file catalogued under that hash with exactly these blocks: the blocks are proven,
  and so is the whole;
- else a live node holding every block (the chain's first, which took them all) hashes
  them end to end from its disk (``POST /blobs/digest``); when none can, the master's
  reader reads them back, each block checked against its own hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Callable, Sequence
from urllib.parse import urlencode

from app.cluster.node_client import NodeClient, NodeUnavailable
from app.errors import Conflict, HashMismatch, ServiceUnavailable, UploadNotFound
from app.master.placement import choose_nodes
from app.master.reader import BlockReader
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.records import Block, FileRecord, NodeRecord
from app.metadata.uploads import OpenUploadLimits, Upload, UploadStore
from app.security import UrlSigner, is_upload_receipt

# A node URL to PUT one block to: {"url", "method", "nodes"}.
Target = dict[str, object]


def owner_of(user_id: int) -> str:
    """The owner an account upload is recorded under."""
    return f"user:{user_id}"


class AccountBlockUploads:
    """Begins, places, proves and commits account uploads of blocks."""

    def __init__(
        self,
        uploads: UploadStore,
        reader: BlockReader,
        nodes: NodeClient,
        live_nodes: Callable[[], list[NodeRecord]],
        *,
        replication: int,
        block_size: int,
        ttl: float,
        signer: UrlSigner,
        limits: OpenUploadLimits | None = None,
    ) -> None:
        self.uploads = uploads
        self.catalogue: FileCatalogue = uploads.store
        self.reader = reader
        self.nodes = nodes
        self.live_nodes = live_nodes
        self.replication = replication
        self.block_size = block_size
        self.ttl = ttl
        # Signs with the key the nodes check private copies' URLs with (in open mode
        # too): its secret is also the receipts' key.
        self.signer = signer
        self.limits = limits or OpenUploadLimits()

    def begin(
        self, user_id: int, path: str, size: int, file_hash: str, blocks: Sequence[tuple[str, int]]
    ) -> Upload:
        """Open an upload of ``path``'s blocks; 429 past the user's open uploads."""
        return self.uploads.begin(
            path,
            size,
            file_hash,
            self.block_size,
            blocks,
            self.ttl,
            owner=owner_of(user_id),
            limits=self.limits,
        )

    def get(self, user_id: int, upload_id: str) -> Upload:
        """The user's open upload; another user's is answered as absent (404)."""
        upload = self.uploads.get(upload_id)
        if upload.owner != owner_of(user_id):
            raise UploadNotFound(f"no upload in progress with id {upload_id}")
        return upload

    def targets(self, upload: Upload) -> Callable[[str], Target]:
        """Where to PUT each block of ``upload``: the same R live nodes for every block,
        so that each holds them all and can hash the whole file."""
        nodes = choose_nodes(self.live_nodes(), self.replication)
        if not nodes:
            raise ServiceUnavailable("no storage node is available", code="no_live_nodes")

        turn = itertools.count()

        def target(block_hash: str) -> Target:
            # Each block's chain begins at the next of the R nodes: they take the
            # client's bytes in turn, and each still holds every block.
            start = next(turn) % len(nodes)
            chain = nodes[start:] + nodes[:start]
            params = {"hash": block_hash, "kind": "block", "private": "1", "upload": upload.id}
            if len(chain) > 1:
                params["chain"] = ",".join(node.url for node in chain[1:])
            url = f"{chain[0].url}/upload?{urlencode(params)}"
            return {
                "url": self.signer.write_url(url, block_hash),
                "method": "PUT",
                "nodes": [node.id for node in chain],
            }

        return target

    def is_receipt(self, upload: Upload, block_hash: str, size: int, receipt: object) -> bool:
        """Whether a node gave ``receipt`` for these bytes of this upload."""
        return is_upload_receipt(self.signer.secret, receipt, upload.id, block_hash, size)

    def unstored(self, upload: Upload) -> list[int]:
        """The indexes of the blocks with no live copy (private ones count)."""
        live_ids = {node.id for node in self.live_nodes()}
        copies = self.catalogue.blob_copies(list(dict.fromkeys(h for h, _s in upload.blocks)))
        return [
            index
            for index, (block_hash, _size) in enumerate(upload.blocks)
            if not live_ids.intersection(copies.get(block_hash, ()))
        ]

    def commit(self, upload: Upload, name: str) -> FileRecord:
        """Make the upload (every block proven sent or held by the caller) a private
        file named ``name``, once its whole-file hash is proven; 409 blocks_missing
        (``missing``: indexes) for blocks with no live copy, 400 hash_mismatch (the
        upload closed) when the blocks do not make the file announced."""
        missing = self.unstored(upload)
        if missing:
            raise Conflict(
                f"{len(missing)} block(s) have no live copy: send them again, then commit",
                code="blocks_missing",
                details={"missing": missing},
            )
        self._prove_hash(upload)
        if len(upload.blocks) == 1:
            # One block is the file itself, as every other write stores it.
            block_hash, size = upload.blocks[0]
            self.uploads.abort(upload.id)
            holders = self.catalogue.blob_copies([block_hash]).get(block_hash, ())
            return self.catalogue.register(
                FileRecord(block_hash, name, size, holders, public=False)
            )
        return self.uploads.commit(dataclasses.replace(upload, name=name), public=False)

    def abort(self, upload: Upload) -> None:
        self.uploads.abort(upload.id)

    # ----- the whole-file hash -----

    def _prove_hash(self, upload: Upload) -> None:
        if len(upload.blocks) == 1:
            if upload.blocks[0][0] == upload.hash:
                return
            self._refuse(upload, upload.blocks[0][0])
        known = self.catalogue.get(upload.hash)
        if known is not None and [(b.hash, b.size) for b in known.blocks] == list(upload.blocks):
            return
        digest = self._node_digest(upload)
        if digest is None:
            digest = self._read_back(upload)
        if digest != upload.hash:
            self._refuse(upload, digest)

    def _node_digest(self, upload: Upload) -> str | None:
        """The hash of the blocks end to end, as a live node holding them all says."""
        hashes = [h for h, _size in upload.blocks]
        copies = self.catalogue.blob_copies(list(dict.fromkeys(hashes)))
        holders: set[str] | None = None
        for block_hash in hashes:
            held = set(copies.get(block_hash, ()))
            holders = held if holders is None else holders & held
        for node in self.live_nodes():
            if holders and node.id in holders:
                try:
                    digest, size = self.nodes.digest_blobs(node.url, hashes)
                except NodeUnavailable:
                    continue
                if size == upload.size:
                    return digest
        return None

    def _read_back(self, upload: Upload) -> str:
        live = {node.id for node in self.live_nodes()}
        copies = self.catalogue.blob_copies(list(dict.fromkeys(h for h, _s in upload.blocks)))
        blocks, offset = [], 0
        for block_hash, size in upload.blocks:
            held = tuple(n for n in copies.get(block_hash, ()) if n in live)
            blocks.append(Block(block_hash, size, offset, held, held))
            offset += size
        record = FileRecord("", "", offset, (), tuple(blocks), upload.block_size, public=False)
        digest = hashlib.sha256()
        for chunk in self.reader.iter_range(record, 0, record.size):
            digest.update(chunk)
        return digest.hexdigest()

    def _refuse(self, upload: Upload, digest: str) -> None:
        self.uploads.abort(upload.id)
        raise HashMismatch(
            f"the blocks hash to {digest}, not to {upload.hash}; the upload is closed"
        )
