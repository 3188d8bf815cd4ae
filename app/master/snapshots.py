"""Snapshots of the user trees as private blobs on the nodes (kind "snapshot"): taken on
demand and on a schedule (only when something changed), the last few kept, read back
and restored. The format and the rows are ``app.metadata.snapshots``'s."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from app.cluster.node_client import CorruptCopy, MissingCopy, NodeClient
from app.errors import FileNotFound, InsufficientStorage, ServiceUnavailable
from app.master.writer import ReplicatedWriter
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.journal import prune_journal
from app.metadata.records import NodeRecord
from app.metadata.settings import SettingStore
from app.metadata.snapshots import (
    RestoreReport,
    SnapshotInfo,
    list_snapshots,
    prune_snapshots,
    record_snapshot,
    restore_snapshot,
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
    ) -> None:
        self.store = store
        self.engine = store.engine
        self.writer = writer
        self.nodes = nodes
        self.live_nodes = live_nodes
        self.settings = settings
        self.keep = keep
        self.max_bytes = max_bytes

    def take(self, *, only_if_changed: bool = False) -> dict[str, Any] | None:
        """Snapshot the user trees onto R nodes now; with ``only_if_changed``, None when
        nothing changed since the last one. 503 below the write quorum, 507 when it is
        larger than a node takes in one blob."""
        taken_at = time.time()
        if self.engine.dialect.name == "sqlite":
            # The backup and gzip take a while: on the pool, not the hub (no greenlet
            # waits), which sqlite3 of its own connections allows.
            data, fingerprint = off_hub(take_snapshot, self.engine)
        else:
            data, fingerprint = take_snapshot(self.engine)
        if only_if_changed and self.settings.get(FINGERPRINT) == fingerprint:
            return None
        if len(data) > self.max_bytes:
            raise InsufficientStorage(
                f"the snapshot has {len(data)} bytes, more than a node takes in one blob "
                f"({self.max_bytes}): back the database up with its own tools (README)",
                code="snapshot_too_large",
            )
        digest = hashlib.sha256(data).hexdigest()
        result = self.writer.write(
            self.live_nodes(),
            lambda: data,
            digest,
            snapshot_name(taken_at),
            kind="snapshot",
            private=True,
        )
        self.store.register_blob(digest, len(data), result.stored_on, private=True)
        info = SnapshotInfo(digest, taken_at, len(data))
        record_snapshot(self.engine, info)
        self.settings.put(FINGERPRINT, fingerprint)
        forgotten = prune_snapshots(self.engine, self.keep)
        prune_journal(self.engine)  # records older than every snapshot kept
        log.info(
            "snapshot %s of the user trees (%d bytes) stored on %s; %d older forgotten",
            digest[:12],
            len(data),
            ", ".join(result.stored_on),
            forgotten,
        )
        return {**info.to_dict(), "copies": list(result.stored_on), "forgotten": forgotten}

    def list(self) -> list[dict[str, Any]]:
        """The snapshots kept, newest first, with the nodes holding each."""
        found = list_snapshots(self.engine)
        copies = self.store.blob_copies([s.hash for s in found])
        return [{**s.to_dict(), "copies": list(copies.get(s.hash, ()))} for s in found]

    def latest(self) -> SnapshotInfo | None:
        found = list_snapshots(self.engine)
        return found[0] if found else None

    def read(self, digest: str) -> bytes:
        """A snapshot's bytes from a live node holding it (checked against its hash);
        404 for a snapshot not kept, 503 when no live node serves it."""
        info = next((s for s in list_snapshots(self.engine) if s.hash == digest), None)
        if info is None:
            raise FileNotFound(f"no snapshot {digest}", code="snapshot_not_found")
        holders = set(self.store.blob_copies([digest]).get(digest, ()))
        for node in self.live_nodes():
            if node.id not in holders:
                continue
            try:
                data = self.nodes.fetch_blob(node.url, digest, info.size, signed=True)
            except (CorruptCopy, MissingCopy) as exc:
                log.warning("snapshot %s on %s unusable: %s", digest[:12], node.id, exc)
                continue
            if data is not None:
                return data
        raise ServiceUnavailable(
            f"no live node serves snapshot {digest}", code="snapshot_unavailable"
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
