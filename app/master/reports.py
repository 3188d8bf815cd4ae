"""What nodes report about their copies, and how far the master believes them.

An inventory is a node's word that it holds blobs. Copies the catalogue already places on
that node are confirmed as they come. New ones (uploads a node stored while the master was
down, or every blob after the master lost its database) are recorded only once a sample
of them is found on the node, at its URL, with the size given; else none of the report's
new copies are, and the node is told which (``refused``) to try them again later. Without
the check, a forged inventory in open mode put 10,000 files that no node held in /list.

A loss report is a node's word that it lacks copies: deleted or lost behind the master's
back, found corrupt, or asked for and not found. It is believed at once (a node is the
authority on its own disk): the copies are forgotten, reads go to the other copies, and
the repairer makes new ones.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from app.cluster.node_client import NodeClient
from app.master.manifests import read_manifests
from app.master.snapshots import read_snapshot_manifests
from app.master.validation import (
    parse_file_key,
    parse_hash_list,
    parse_inventory,
    parse_node,
    parse_node_id,
)
from app.metadata.cluster import ClusterStore
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.journal import learn_records
from app.metadata.journal_records import written_at_of
from app.metadata.manifests import learn_manifests, unknown_manifests
from app.metadata.records import HeldCopy
from app.metadata.snapshots import (
    SnapshotInfo,
    known_snapshot_manifests,
    parse_snapshot_name,
    record_snapshot,
)

log = logging.getLogger(__name__)

# New copies of one inventory checked on the node (a HEAD each): a report that is mostly
# invented fails at once; one of an honest node costs three of its cheapest requests.
INVENTORY_SAMPLE = 3


class CopyReports:
    """Takes nodes' inventories and loss reports into the catalogue."""

    def __init__(
        self,
        store: FileCatalogue,
        cluster: ClusterStore,
        nodes: NodeClient,
        on_complete: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.cluster = cluster
        self.nodes = nodes
        # Told the node of each complete inventory (a recovery waits for them).
        self.on_complete = on_complete

    def take_inventory(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Confirm a node's batch of copies; a complete sync forgets unconfirmed ones."""
        node_id, url = parse_node(payload)
        records, sync_started, complete = parse_inventory(payload)
        if sync_started is None:
            sync_started = time.time()
        self.cluster.heartbeat(node_id, url)
        refused = self._unproven(node_id, url, records)
        kept = [record for record in records if record.hash not in refused]
        drop = self.store.confirm_inventory(node_id, kept)
        self._learn(url, [record for record in kept if record.hash not in set(drop)])
        pruned = self.store.prune_replicas(node_id, sync_started) if complete else 0
        if complete and self.on_complete is not None:
            self.on_complete(node_id)
        return {
            "node": node_id,
            "confirmed": len(kept) - len(drop),
            "pruned": pruned,
            "sync_started": sync_started,
            "drop": drop,
            "refused": sorted(refused),
        }

    def _learn(self, url: str, copies: list[HeldCopy]) -> None:
        """What the cluster's own blobs tell a master that lost its catalogue: the large
        files of manifests it does not know (read from the node), the snapshots kept."""
        engine = self.store.engine
        unknown = unknown_manifests(engine, [c.hash for c in copies if c.kind == "manifest"])
        if unknown and (
            created := learn_manifests(engine, read_manifests(self.nodes, url, unknown))
        ):
            log.info("%d large files rebuilt from their manifests on %s", created, url)
        listed = []
        for copy in copies:
            named = parse_snapshot_name(copy.name) if copy.kind == "snapshot" else None
            if named is None:
                continue
            if named[1]:
                listed.append(copy.hash)  # the manifest of a snapshot's blocks
            else:
                record_snapshot(engine, SnapshotInfo(copy.hash, named[0], copy.size))
        unknown = sorted(set(listed) - known_snapshot_manifests(engine, listed))
        for blob_hash, manifest in read_snapshot_manifests(self.nodes, url, unknown):
            record_snapshot(
                engine,
                SnapshotInfo(manifest.hash, manifest.taken_at, manifest.size, blob_hash),
                manifest.blocks,
            )
        learn_records(
            engine,
            [
                (copy.hash, written_at_of(copy.name) or 0.0, copy.size)
                for copy in copies
                if copy.kind == "journal"
            ],
        )

    def take_losses(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Forget the copies a node says it lacks (``hashes``, or one ``hash``)."""
        node_id = parse_node_id(payload)
        if "hashes" in payload:
            hashes = parse_hash_list(payload, "hashes")
        else:
            hashes = [parse_file_key(payload.get("hash"))]
        forgotten = self.cluster.forget_copies(node_id, hashes)
        if forgotten:
            log.warning(
                "node %s lacks %d copies the catalogue placed there (%s%s); forgotten",
                node_id,
                len(forgotten),
                ", ".join(forgotten[:3]),
                ", ..." if len(forgotten) > 3 else "",
            )
        return {"node": node_id, "forgotten": forgotten}

    def _unproven(self, node_id: str, url: str, records: list[HeldCopy]) -> set[str]:
        """The hashes of the report's new copies, unless a sample of them is on the node."""
        new = self.cluster.new_copies(node_id, [record.hash for record in records])
        if not new:
            return set()
        candidates = [record for record in records if record.hash in new]
        sample = random.sample(candidates, min(INVENTORY_SAMPLE, len(candidates)))
        if all(self.nodes.has_blob(url, item.hash, item.size) for item in sample):
            return set()
        log.warning(
            "inventory of node %s at %s: a sample of its %d new copies is not there; "
            "none of them recorded",
            node_id,
            url,
            len(new),
        )
        return new
