"""Snapshots of the user trees as private blobs on the nodes (kind "snapshot"): taken on
demand and on a schedule (only when something changed), the last few kept, read back
and restored. One larger than a block is stored as a large file is: private blocks on
R nodes, then its manifest (``app.metadata.snapshot_manifests``) as the blob of kind
"snapshot" that a rebuilt master finds. The format and the rows are
``app.metadata.snapshots``'s."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from app.cluster.node_client import CorruptCopy, MissingCopy, NodeClient
from app.errors import FileNotFound, InsufficientStorage, ServiceUnavailable
from app.master.writer import ReplicatedWriter
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.journal import JOURNAL_FROM, prune_journal
from app.metadata.records import NodeRecord
from app.metadata.settings import SettingStore
from app.metadata.snapshot_manifests import (
    MAX_SNAPSHOT_MANIFEST_BYTES,
    InvalidSnapshotManifest,
    SnapshotManifest,
    decode_snapshot_manifest,
    encode_snapshot_manifest,
)
from app.metadata.snapshots import (
    RestoreReport,
    SnapshotInfo,
    list_snapshots,
    prune_snapshots,
    record_snapshot,
    restore_snapshot,
    snapshot_blocks_of,
    snapshot_name,
    take_snapshot,
)
from app.primitives.offhub import off_hub

log = logging.getLogger(__name__)

# The fingerprint of the last snapshot's rows: a scheduled one is taken only when it moved.
FINGERPRINT = "snapshot.fingerprint"


class Snapshots:
    """Takes, lists, reads and restores the cluster's snapshots of the user trees."""

    def __init__(
        self,
        store: FileCatalogue,
        writer: ReplicatedWriter,
        nodes: NodeClient,
        live_nodes: Callable[[], list[NodeRecord]],
        settings: SettingStore,
        *,
        keep: int,
        max_bytes: int,
        block_size: int,
    ) -> None:
        self.store = store
        self.engine = store.engine
        self.writer = writer
        self.nodes = nodes
        self.live_nodes = live_nodes
        self.settings = settings
        self.keep = keep
        self.max_bytes = max_bytes
        self.block_size = block_size

    def take(self, *, only_if_changed: bool = False) -> dict[str, Any] | None:
        """Snapshot the user trees onto R nodes now, as one blob or, larger than a block,
        as blocks and their manifest; with ``only_if_changed``, None when nothing changed
        since the last one. 503 below the write quorum, 507 past SNAPSHOT_MAX_BYTES."""
        taken_at = time.time()
        if self.settings.get(JOURNAL_FROM) is None:
            # Before the read: a change committed after it, before the snapshot is
            # recorded below, is journaled, where none was yet.
            self.settings.put(JOURNAL_FROM, repr(taken_at))
        if self.engine.dialect.name == "sqlite":
            # The backup and gzip take a while: on the pool, not the hub (no greenlet
            # waits), which sqlite3 of its own connections allows.
            data, fingerprint = off_hub(take_snapshot, self.engine)
        else:
            data, fingerprint = take_snapshot(self.engine)
        if only_if_changed and self.settings.get(FINGERPRINT) == fingerprint:
            return None
        if len(data) > self.max_bytes:
            # The master holds a snapshot whole while it takes or restores one.
            raise InsufficientStorage(
                f"the snapshot has {len(data)} bytes, more than SNAPSHOT_MAX_BYTES "
                f"({self.max_bytes}): raise it, or back the database up with its own "
                "tools (README)",
                code="snapshot_too_large",
            )
        digest = hashlib.sha256(data).hexdigest()
        blocks: list[tuple[str, int]] = []
        if len(data) <= self.block_size:
            stored_on = self._write(data, digest, snapshot_name(taken_at), kind="snapshot")
            info = SnapshotInfo(digest, taken_at, len(data))
        else:
            info, blocks, stored_on = self._write_blocks(data, digest, taken_at)
        record_snapshot(self.engine, info, blocks)
        self.settings.put(FINGERPRINT, fingerprint)
        forgotten = prune_snapshots(self.engine, self.keep)
        prune_journal(self.engine)  # records older than every snapshot kept
        log.info(
            "snapshot %s of the user trees (%d bytes, %d blocks) stored on %s; %d older forgotten",
            digest[:12],
            len(data),
            len(blocks) or 1,
            ", ".join(stored_on),
            forgotten,
        )
        return {
            **info.to_dict(),
            "blocks": len(blocks) or 1,
            "copies": list(stored_on),
            "forgotten": forgotten,
        }

    def _write(
        self,
        data: bytes,
        digest: str,
        name: str,
        *,
        kind: str,
        nodes: list[NodeRecord] | None = None,
    ) -> tuple[str, ...]:
        """Store one private blob of the snapshot on R nodes (``nodes`` in the order
        given, else the live ones by free space); the nodes holding it."""
        result = self.writer.write(
            nodes or self.live_nodes(),
            lambda: data,
            digest,
            name,
            kind=kind,
            ranked=nodes is not None,
            private=True,
        )
        self.store.register_blob(digest, len(data), result.stored_on, private=True)
        return result.stored_on

    def _write_blocks(
        self, data: bytes, digest: str, taken_at: float
    ) -> tuple[SnapshotInfo, list[tuple[str, int]], tuple[str, ...]]:
        """Store the snapshot as blocks of BLOCK_SIZE, then the manifest listing them
        (last: a manifest on the nodes names blocks that are there). Each goes to the
        same nodes while they take it, as the blocks of a large file do, so that one
        node can serve it whole. Blocks of a take that fails are collected as any
        block nothing refers to."""
        order = self.writer.rank_nodes(self.live_nodes())
        name = snapshot_name(taken_at)
        blocks: list[tuple[str, int]] = []
        for start in range(0, len(data), self.block_size):
            block = data[start : start + self.block_size]
            block_hash = hashlib.sha256(block).hexdigest()
            self._write(block, block_hash, f"{name}.{len(blocks)}", kind="block", nodes=order)
            blocks.append((block_hash, len(block)))
        manifest = encode_snapshot_manifest(
            SnapshotManifest(digest, len(data), taken_at, self.block_size, tuple(blocks))
        )
        manifest_hash = hashlib.sha256(manifest).hexdigest()
        stored_on = self._write(
            manifest, manifest_hash, snapshot_name(taken_at, blocks=True), kind="snapshot"
        )
        return SnapshotInfo(digest, taken_at, len(data), manifest_hash), blocks, stored_on

    def list(self) -> list[dict[str, Any]]:
        """The snapshots kept, newest first, with the nodes holding each."""
        found = list_snapshots(self.engine)
        # A snapshot of blocks is where its manifest is (its blocks go to the same nodes).
        copies = self.store.blob_copies([s.manifest or s.hash for s in found])
        return [
            {**s.to_dict(), "copies": list(copies.get(s.manifest or s.hash, ()))} for s in found
        ]

    def latest(self) -> SnapshotInfo | None:
        found = list_snapshots(self.engine)
        return found[0] if found else None

    def read(self, digest: str) -> bytes:
        """A snapshot's bytes from live nodes holding its blob or its blocks (each
        checked against its hash, and the whole against the snapshot's); 404 for a
        snapshot not kept, 503 when no live node serves a part of it."""
        info = next((s for s in list_snapshots(self.engine) if s.hash == digest), None)
        if info is None:
            raise FileNotFound(f"no snapshot {digest}", code="snapshot_not_found")
        blocks = snapshot_blocks_of(self.engine, digest) if info.manifest else []
        data = b"".join(self._fetch(h, size) for h, size in blocks or [(digest, info.size)])
        if hashlib.sha256(data).hexdigest() != digest:
            # Blocks each as addressed, listed by a forged manifest (open mode).
            raise ServiceUnavailable(
                f"the blocks of snapshot {digest} do not make it up", code="snapshot_unavailable"
            )
        return data

    def _fetch(self, digest: str, size: int) -> bytes:
        """One blob of a snapshot from a live node holding it; 503 when none serves it."""
        holders = set(self.store.blob_copies([digest]).get(digest, ()))
        for node in self.live_nodes():
            if node.id not in holders:
                continue
            try:
                data = self.nodes.fetch_blob(node.url, digest, size, signed=True)
            except (CorruptCopy, MissingCopy) as exc:
                log.warning("snapshot blob %s on %s unusable: %s", digest[:12], node.id, exc)
                continue
            if data is not None:
                return data
        raise ServiceUnavailable(
            f"no live node serves snapshot blob {digest}", code="snapshot_unavailable"
        )

    def restore(self, data: bytes) -> RestoreReport:
        """Replace the user trees with a snapshot's bytes (400 invalid_snapshot)."""
        report = restore_snapshot(self.engine, data)
        log.warning("user trees restored from a snapshot: %s", report.to_dict())
        return report

    def restore_latest(self) -> dict[str, Any]:
        """Restore the newest snapshot a live node serves (404 when none is kept)."""
        latest = self.latest()
        if latest is None:
            raise FileNotFound("no snapshot is kept: take one first", code="snapshot_not_found")
        report = self.restore(self.read(latest.hash))
        return {"snapshot": latest.to_dict(), **report.to_dict()}


def read_snapshot_manifests(
    nodes: NodeClient, node_url: str, blob_hashes: Sequence[str]
) -> list[tuple[str, SnapshotManifest]]:
    """Fetch and parse the snapshot manifests a node reports holding; those it cannot
    serve, or that are none, are logged and left out (another node's copy may do)."""
    found = []
    for blob_hash in blob_hashes:
        try:
            data = nodes.fetch_blob(node_url, blob_hash, MAX_SNAPSHOT_MANIFEST_BYTES, signed=True)
            if data is not None:
                found.append((blob_hash, decode_snapshot_manifest(data)))
        except (CorruptCopy, MissingCopy, InvalidSnapshotManifest) as exc:
            log.warning("snapshot manifest %s on %s unusable: %s", blob_hash, node_url, exc)
    return found
