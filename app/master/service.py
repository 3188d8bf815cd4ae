"""Master logic: the file catalogue, and the role's parts put together (its nodes in
``app.master.directory``, writes in ``app.master.writes``, reads in ``app.master.reads``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from app.cluster.node_client import NodeClient
from app.errors import Conflict, FileNotFound
from app.master.directory import NodeDirectory
from app.master.reader import BlockReader
from app.master.reads import FileReads
from app.master.recovery import Recovery
from app.master.replication import Repairer, RepairLog, RepairReport, drop_copies
from app.master.reports import CopyReports
from app.master.streams import NodeStreams
from app.master.uploads import UploadService
from app.master.validation import (
    CopyRegistration,
    parse_file_key,
    parse_kind,
    parse_record,
)
from app.master.writer import ReplicatedWriter
from app.master.writes import FileWrites
from app.metadata.cluster import ClusterStore
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.hotindex import HotIndex
from app.metadata.records import FileRecord
from app.metadata.uploads import OpenUploadLimits, UploadStore
from app.metadata.visibility import Visibility
from app.security import UrlSigner

EXTENSION = "mdbx.master"
REPAIRER = "mdbx.master.repairer"
PROBER = "mdbx.master.prober"
STREAMS = "mdbx.master.streams"
RECOVERY = "mdbx.master.recovery"
JOURNAL = "mdbx.master.journal"


class MasterService:
    """The file catalogue (registration, lookup, deletion) and the master's health; the
    role's other parts, for its views: ``directory`` (the nodes), ``writes``, ``reads``,
    ``uploads`` (announced uploads of blocks) and ``reader`` (blocks read and checked)."""

    def __init__(
        self,
        store: FileCatalogue,
        cluster: ClusterStore,
        index: HotIndex,
        nodes: NodeClient,
        writer: ReplicatedWriter,
        uploads: UploadStore,
        *,
        node_timeout: float,
        repair_grace: float,
        block_size: int,
        upload_ttl: float,
        signer: UrlSigner,
        private_signer: UrlSigner | None = None,
        open_upload_limits: OpenUploadLimits | None = None,
        open_key: str = "",
        node_changes: Path | None = None,
        repair_log: RepairLog | None = None,
        sync_epoch: Callable[[], str] | None = None,
        on_inventory_complete: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.repair_log = repair_log
        self.visibility = Visibility(store.engine)
        self.cluster = cluster
        self.index = index
        self.nodes = nodes
        self.replication = writer.replication
        self.node_timeout = node_timeout
        self.repair_grace = repair_grace
        self.directory = NodeDirectory(
            cluster,
            CopyReports(store, cluster, nodes, on_inventory_complete),
            self.visibility,
            node_timeout=node_timeout,
            replication=self.replication,
            open_key=open_key,
            changes=node_changes,
            sync_epoch=sync_epoch,
        )
        live = self.directory.live_nodes
        self.reader = BlockReader(nodes, cluster, live)
        self.writes = FileWrites(
            writer, uploads, cluster, live, block_size=block_size, upload_ttl=upload_ttl
        )
        self.reads = FileReads(
            self.get_file, self.reader, live, signer, nodes.serves, private_signer
        )
        self.uploads = UploadService(
            store,
            uploads,
            self.reader,
            live,
            replication=self.replication,
            block_size=block_size,
            ttl=upload_ttl,
            signer=signer,
            limits=open_upload_limits,
        )
        # What other parts add to /health (Seedream: whether it is configured).
        self.health_details: dict[str, Any] = {}

    # ----- catalogue -----

    def register_file(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Record a file (or, with ``kind: block``, a block) and the replicas given.

        Known replicas are kept. A node registering its own copy (it sends
        ``holder_url``) is told in ``replicate_to`` which live peers should get a copy
        to reach R. Content that only signed URLs read (the per-user API's) is left
        alone: 409 hash_taken, whatever the call would have changed.
        """
        given = parse_record(payload)
        if self.visibility.is_private(given.hash):
            raise Conflict(
                f"{given.hash} names content outside the global catalogue: it cannot be "
                "registered, renamed or given replicas here",
                code="hash_taken",
            )
        answer: dict[str, Any] = {"message": "File registered successfully", "hash": given.hash}
        if parse_kind(payload) == "block":
            self.store.register_blob(given.hash, given.size, given.replicas)
            holders = self.store.blob_copies([given.hash]).get(given.hash, ())
        else:
            record = self.store.register(given)
            answer["file"] = record.public_view().to_dict()
            holders = record.replicas
        if isinstance(payload.get("holder_url"), str):
            answer["replicate_to"] = [
                {"id": node.id, "url": node.url} for node in self.directory.peers_needed(holders)
            ]
        return answer

    def register_copies(self, registration: CopyRegistration) -> dict[str, Any]:
        """A node's batch of new copies (its uploads' group commit), in one transaction,
        with the copies its peers hold beside them (``also``: live nodes only; another
        registers its copy itself).

        Each answer says, for a copy whose node asked (``want_peers``), which live peers
        should get a copy for the blob to reach R; and then ``peers`` says where the
        node's next new copies should go (where the node copies them while it writes its
        own: app.node.commits).
        """
        node_id, copies, wants = registration.node, registration.copies, registration.wants_peers
        live = (
            {node.id for node in self.directory.live_nodes()} if any(registration.also) else set()
        )
        also = [tuple(i for i in ids if i in live) for ids in registration.also]
        self.store.register_copies(node_id, copies, also)
        self.directory.note_alive(node_id, registration.url)
        # Public copies only: a node's upload is public content, read only from those.
        holders = self.store.blob_copies(
            [c.hash for c, want in zip(copies, wants, strict=True) if want], public_only=True
        )
        results = []
        for copy, want in zip(copies, wants, strict=True):
            peers = self.directory.peers_needed(holders.get(copy.hash, ())) if want else []
            results.append(
                {"hash": copy.hash, "replicate_to": [{"id": n.id, "url": n.url} for n in peers]}
            )
        answer: dict[str, Any] = {"node": node_id, "results": results}
        if any(wants):
            answer["peers"] = [
                {"id": n.id, "url": n.url} for n in self.directory.peers_needed([node_id])
            ]
        return answer

    def get_file(self, hash_param: str | None) -> FileRecord:
        """A file of the global catalogue, without its private copies (``public_view``):
        private content is as unknown as absent content."""
        file_hash = parse_file_key(hash_param)
        record = self.index.get(file_hash)
        if record is None or not record.public:
            raise FileNotFound(f"no file registered under {file_hash}")
        return record.public_view()

    def describe_file(self, hash_param: str | None) -> dict[str, Any]:
        """The reference's FileInfo, plus where each replica lives and whether it is up."""
        record = self.get_file(hash_param)
        now = time.time()
        known = {node.id: node for node in self.cluster.list_nodes()}
        locations = []
        for replica in record.replicas:
            node = known.get(replica)
            locations.append(
                {
                    "node": replica,
                    "url": node.url if node else None,
                    "state": node.state(now, self.node_timeout) if node else "unknown",
                }
            )
        return {**record.to_dict(), "locations": locations}

    def list_files(self) -> list[FileRecord]:
        return self.store.list_files()

    def delete_file(self, hash_param: str | None) -> dict[str, Any]:
        """Delete a file everywhere; copies on unreachable nodes are deleted when they return."""
        file_hash = self.get_file(hash_param).hash
        deleted = self.store.delete_file(file_hash)
        if deleted is None:
            raise FileNotFound(f"no file registered under {file_hash}")
        _record, purged = deleted
        copies_deleted, copies_pending = drop_copies(
            self.nodes, self.cluster, purged, self.directory.live_nodes()
        )
        return {
            "deleted": file_hash,
            "blobs_deleted": len(purged),
            "copies_deleted": copies_deleted,
            "copies_pending": copies_pending,
        }

    # ----- health -----

    def health(self) -> dict[str, Any]:
        """The master's own ``/health``: its node and file counts."""
        return {
            "status": "OK",
            "role": "master",
            "nodes": len(self.cluster.list_nodes()),
            "files": self.store.count_files(),
            **self.health_details,
        }

    def cluster_health(self) -> dict[str, Any]:
        """Count blobs by how many of their copies are live and how many still count;
        ``repair``: what the last repair passes did (``RepairLog.latest``)."""
        now = time.time()
        all_nodes = self.cluster.list_nodes()
        live = {n.id for n in all_nodes if n.is_serving(now, self.node_timeout)}
        counted = {n.id for n in all_nodes if n.is_up(now, self.node_timeout + self.repair_grace)}
        return {
            "status": "OK",
            "replication": self.replication,
            "nodes_up": len(live),
            "nodes_down": len(all_nodes) - len(live),
            "files": self.store.count_files(),
            **self.cluster.replication_summary(counted, live, self.replication),
            "repair": self.repair_log.latest() if self.repair_log is not None else None,
        }


def repair_now() -> RepairReport:
    """Run one repair pass in this request (admin); the background loop does the same."""
    repairer: Repairer = current_app.extensions[REPAIRER]
    return repairer.run_pass()


def master_recovery() -> Recovery:
    """The recovery and snapshots of this master (``/admin/...``)."""
    recovery: Recovery = current_app.extensions[RECOVERY]
    return recovery


def node_streams() -> NodeStreams:
    """The nodes' streams to this worker (``GET /nodes/<id>/stream``)."""
    streams: NodeStreams = current_app.extensions[STREAMS]
    return streams


def master_service() -> MasterService:
    """Return the MasterService of the current app."""
    return master_service_of(current_app)


def master_service_of(app: Flask) -> MasterService:
    """Return the MasterService of ``app`` (for the wiring of the front ends over it)."""
    service: MasterService = app.extensions[EXTENSION]
    return service
