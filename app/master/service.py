"""Master logic: the file catalogue, node membership, replicated writes and checked reads."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import time
from pathlib import Path
from typing import IO, Any

from flask import Flask, current_app

from app.errors import FileNotFound, PayloadTooLarge, ServiceUnavailable
from app.master.placement import choose_nodes, live_nodes
from app.master.replication import Repairer, RepairReport
from app.master.validation import (
    parse_file_key,
    parse_hash_list,
    parse_inventory,
    parse_node,
    parse_record,
    parse_stats,
)
from app.master.writer import ReplicatedWriter
from app.metadata.cluster import ClusterStore, NodeRecord
from app.metadata.engine import make_engine, sqlite_url
from app.metadata.hotindex import HotIndex
from app.metadata.repository import FileRecord, MetadataStore
from app.multipart import MAX_FIELD_BYTES, clean_name, read_file_part
from app.node.client import CorruptCopy, NodeClient, NodeUnavailable
from app.storage import FileBlobStore, FileBlobWriter

log = logging.getLogger(__name__)

EXTENSION = "mdbx.master"
REPAIRER = "mdbx.master.repairer"


class MasterService:
    """The master's operations over its metadata, its view of nodes, and the nodes."""

    def __init__(
        self,
        store: MetadataStore,
        cluster: ClusterStore,
        index: HotIndex,
        nodes: NodeClient,
        writer: ReplicatedWriter,
        spool: FileBlobStore,
        *,
        node_timeout: float,
        repair_grace: float,
        max_upload_size: int,
    ) -> None:
        self.store = store
        self.cluster = cluster
        self.index = index
        self.nodes = nodes
        self.writer = writer
        self.spool = spool
        self.replication = writer.replication
        self.node_timeout = node_timeout
        self.repair_grace = repair_grace
        self.max_upload_size = max_upload_size
        self.health_details: dict[str, Any] = {}

    # ----- catalogue -----

    def register_file(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Record a file and the replicas given; known replicas are kept.

        A node registering its own copy (it sends ``holder_url``) is told in
        ``replicate_to`` which live peers should get a copy to reach R.
        """
        record = self.store.register(parse_record(payload))
        answer: dict[str, Any] = {
            "message": "File registered successfully",
            "hash": record.hash,
            "file": record.to_dict(),
        }
        if isinstance(payload.get("holder_url"), str):
            answer["replicate_to"] = [
                {"id": node.id, "url": node.url} for node in self.peers_needed(record)
            ]
        return answer

    def get_file(self, hash_param: str | None) -> FileRecord:
        file_hash = parse_file_key(hash_param)
        record = self.index.get(file_hash)
        if record is None:
            raise FileNotFound(f"no file registered under {file_hash}")
        return record

    def describe_file(self, hash_param: str | None) -> dict[str, Any]:
        """The reference's FileInfo, plus where each replica lives and whether it is up."""
        record = self.get_file(hash_param)
        now = time.time()
        known = {node.id: node for node in self.cluster.list_nodes()}
        locations = []
        for replica in record.replicas:
            node = known.get(replica)
            up = node is not None and node.is_up(now, self.node_timeout)
            locations.append(
                {
                    "node": replica,
                    "url": node.url if node else None,
                    "state": "up" if up else ("down" if node else "unknown"),
                }
            )
        return {**record.to_dict(), "locations": locations}

    def list_files(self) -> list[FileRecord]:
        return self.store.list_files()

    def delete_file(self, hash_param: str | None) -> dict[str, Any]:
        """Delete a file everywhere; copies on unreachable nodes are deleted when they return."""
        file_hash = parse_file_key(hash_param)
        record = self.store.delete_file(file_hash)
        if record is None:
            raise FileNotFound(f"no file registered under {file_hash}")
        urls = {node.id: node.url for node in self.live_nodes()}
        owed = []
        for replica in record.replicas:
            try:
                if replica not in urls:
                    raise NodeUnavailable(f"node {replica} is down")
                self.nodes.delete_blob(urls[replica], file_hash)
            except NodeUnavailable as exc:
                log.info("delete of %s on %s postponed: %s", file_hash, replica, exc.message)
                owed.append(replica)
        self.cluster.owe_deletes(file_hash, owed)
        return {
            "deleted": file_hash,
            "copies_deleted": len(record.replicas) - len(owed),
            "copies_pending": len(owed),
        }

    # ----- nodes -----

    def live_nodes(self) -> list[NodeRecord]:
        return live_nodes(self.cluster.list_nodes(), time.time(), self.node_timeout)

    def take_heartbeat(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Record a node's beat and figures; answer the deletions it still owes."""
        node_id, url = parse_node(payload)
        self.cluster.settle_deletes(node_id, parse_hash_list(payload, "deleted"))
        self.cluster.heartbeat(node_id, url, parse_stats(payload))
        return {"node": node_id, "delete": self.cluster.deletes_owed_by(node_id)}

    def take_inventory(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Confirm a node's batch of copies; a complete sync forgets unconfirmed ones."""
        node_id, url = parse_node(payload)
        records, sync_started, complete = parse_inventory(payload)
        if sync_started is None:
            sync_started = time.time()
        self.cluster.heartbeat(node_id, url)
        drop = self.store.confirm_inventory(node_id, records)
        pruned = self.store.prune_replicas(node_id, sync_started) if complete else 0
        return {
            "node": node_id,
            "confirmed": len(records) - len(drop),
            "pruned": pruned,
            "sync_started": sync_started,
            "drop": drop,
        }

    def take_bad_copy(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A node found its copy corrupt or missing: forget it so repair replaces it."""
        node_id = payload.get("node")
        file_hash = parse_file_key(payload.get("hash"))
        if isinstance(node_id, str):
            self.cluster.forget_replica(file_hash, node_id)
        return {"forgotten": file_hash, "node": node_id}

    def list_nodes(self) -> list[dict[str, Any]]:
        now = time.time()
        return [node.to_dict(now, self.node_timeout) for node in self.cluster.list_nodes()]

    def peers_needed(self, record: FileRecord) -> list[NodeRecord]:
        """Live nodes that should receive a copy for ``record`` to have R live copies."""
        live = self.live_nodes()
        holders = set(record.replicas)
        have = sum(1 for node in live if node.id in holders)
        return choose_nodes([n for n in live if n.id not in holders], self.replication - have)

    # ----- writes -----

    def store_upload(
        self, stream: IO[bytes], content_type: str | None, content_length: int | None
    ) -> dict[str, Any]:
        """Spool a multipart upload, then write it to R nodes; answer once they hold it."""
        if content_length is not None and content_length > self.max_upload_size + MAX_FIELD_BYTES:
            raise PayloadTooLarge(f"uploads are limited to {self.max_upload_size} bytes")
        writers: list[FileBlobWriter] = []

        def open_writer(_filename: str) -> FileBlobWriter:
            writers.append(self.spool.open_writer(self.max_upload_size, content_length))
            return writers[-1]

        try:
            upload = read_file_part(stream, content_type, "file", open_writer)
            assert upload.sink is not None
            digest = upload.sink.finish()
            name = clean_name(upload.filename) or digest
            path = upload.sink.path
            record = self._replicate(lambda: path.open("rb"), digest, name, upload.sink.size)
        finally:
            for writer in writers:
                writer.abort()
        return {"success": True, "message": "File Upload Successful", **record}

    def store_bytes(self, data: bytes, name: str) -> FileRecord:
        """Write ``data`` to R live nodes (Seedream images); return the registered file."""
        digest = hashlib.sha256(data).hexdigest()
        self._replicate(lambda: data, digest, name, len(data))
        return self.get_file(digest)

    def assign(self, count: int | None = None) -> dict[str, Any]:
        """Choose the nodes a client should write to (first one forwards down the chain)."""
        targets = choose_nodes(self.live_nodes(), count or self.replication)
        if not targets:
            raise ServiceUnavailable("no storage node is available", code="no_live_nodes")
        return {
            "nodes": [{"id": node.id, "url": node.url} for node in targets],
            "upload_url": f"{targets[0].url}/upload",
            "chain": [node.url for node in targets[1:]],
            "replication": self.replication,
        }

    def _replicate(self, source: Any, digest: str, name: str, size: int) -> dict[str, Any]:
        result = self.writer.write(self.live_nodes(), source, digest, name)
        record = self.store.register(FileRecord(digest, name, size, result.stored_on))
        return {
            **record.to_dict(),
            "copies": len(result.stored_on),
            "replication": result.wanted,
            "quorum": result.quorum,
        }

    # ----- reads -----

    def locate(self, hash_param: str | None) -> str:
        """Return a URL from which a live replica of the file can be read."""
        record = self.get_file(hash_param)
        urls = self._live_urls(record)
        if not urls:
            raise ServiceUnavailable(f"no live node holds {record.hash}", code="no_live_replica")
        return f"{random.choice(urls)}/retrieve?hash={record.hash}"

    def read_verified(
        self, hash_param: str | None, max_bytes: int | None = None
    ) -> tuple[FileRecord, bytes]:
        """Read a whole file from a live replica, checked against its hash.

        A replica that is down or fails is skipped for the next; one that serves wrong
        bytes is forgotten (and asked to drop them) so that repair replaces it.
        """
        record = self.get_file(hash_param)
        limit = record.size if max_bytes is None else min(record.size, max_bytes)
        urls = self._live_urls(record)
        random.shuffle(urls)
        # Every known node, not the live ones again: one may have gone down meanwhile.
        by_url = {node.url: node.id for node in self.cluster.list_nodes()}
        for url in urls:
            try:
                data = self.nodes.fetch_blob(url, record.hash, limit)
            except CorruptCopy as exc:
                log.error("%s; forgetting that copy", exc)
                self.cluster.forget_replica(record.hash, by_url[url])
                with contextlib.suppress(NodeUnavailable):  # else the node's scrub finds it
                    self.nodes.delete_blob(url, record.hash)
                continue
            if data is not None:
                return record, data
        raise ServiceUnavailable(
            f"no live replica could serve {record.hash}", code="no_live_replica"
        )

    def _live_urls(self, record: FileRecord) -> list[str]:
        holders = set(record.replicas)
        return [node.url for node in self.live_nodes() if node.id in holders]

    # ----- health -----

    def health(self) -> dict[str, Any]:
        return {
            "status": "OK",
            "role": "master",
            "nodes": len(self.cluster.list_nodes()),
            "files": self.store.count_files(),
            **self.health_details,
        }

    def cluster_health(self) -> dict[str, Any]:
        """Count files by how many of their copies are live and how many still count."""
        now = time.time()
        all_nodes = self.cluster.list_nodes()
        live = {n.id for n in all_nodes if n.is_up(now, self.node_timeout)}
        counted = {n.id for n in all_nodes if n.is_up(now, self.node_timeout + self.repair_grace)}
        states = self.cluster.replication_states(counted, live)
        r = self.replication
        return {
            "status": "OK",
            "replication": r,
            "nodes_up": len(live),
            "nodes_down": len(all_nodes) - len(live),
            "files": len(states),
            "healthy": sum(1 for s in states if s.live >= r),
            "degraded": sum(1 for s in states if 0 < s.live < r),
            "under_replicated": sum(1 for s in states if s.counted < r),
            "over_replicated": sum(1 for s in states if s.live > r),
            "unavailable": sum(1 for s in states if s.live == 0),
            "lost": sum(1 for s in states if s.counted == 0),
        }


def init_app(app: Flask) -> None:
    """Wire the metadata store (SQLite under DATA_DIR unless METADATA_URL says otherwise)."""
    config = app.config
    data_dir = Path(config["DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    url = config["METADATA_URL"] or sqlite_url(data_dir / "metadata.db")
    engine = make_engine(url)
    store = MetadataStore(engine)
    nodes = NodeClient()
    writer = ReplicatedWriter(
        nodes, replication=config["REPLICATION"], write_quorum=config["WRITE_QUORUM"]
    )
    cluster = ClusterStore(engine)
    repairer = Repairer(
        store,
        cluster,
        nodes,
        replication=config["REPLICATION"],
        node_timeout=config["NODE_TIMEOUT"],
        repair_grace=config["REPAIR_GRACE"],
        interval=config["REPAIR_INTERVAL"],
        batch=config["REPAIR_BATCH"],
        lock_path=data_dir / "repair.lock",
    )
    app.extensions[REPAIRER] = repairer
    if config["BACKGROUND_TASKS"]:
        repairer.start()
    app.extensions[EXTENSION] = MasterService(
        store,
        cluster,
        HotIndex(store, config["HOT_INDEX_SIZE"]),
        nodes,
        writer,
        FileBlobStore(data_dir / "spool", fsync=False),
        node_timeout=config["NODE_TIMEOUT"],
        repair_grace=config["REPAIR_GRACE"],
        max_upload_size=config["MAX_UPLOAD_SIZE"],
    )


def repair_now() -> RepairReport:
    """Run one repair pass in this request (admin); the background loop does the same."""
    repairer: Repairer = current_app.extensions[REPAIRER]
    return repairer.run_pass()


def master_service() -> MasterService:
    """Return the MasterService of the current app."""
    service: MasterService = current_app.extensions[EXTENSION]
    return service
