"""Master logic: the file catalogue, node membership, replicated writes and checked reads."""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from flask import Flask, current_app

from app.cluster.node_client import NodeClient
from app.errors import Conflict, FileNotFound, InvalidHash, ServiceUnavailable
from app.http.bodies import BODY_CHUNK
from app.http.multipart import clean_name, read_file_part
from app.master.ingest import BlockIngest
from app.master.overlay import master_fast_path
from app.master.placement import choose_nodes, live_nodes
from app.master.probe import NodeProber
from app.master.reader import BlockReader
from app.master.replication import Repairer, RepairReport, drop_copies
from app.master.reports import CopyReports
from app.master.uploads import UploadService
from app.master.validation import (
    CopyRegistration,
    parse_file_key,
    parse_hash_list,
    parse_kind,
    parse_node,
    parse_record,
    parse_stats,
)
from app.master.writer import ReplicatedWriter
from app.metadata.cluster import ClusterStore, NodeRecord
from app.metadata.engine import make_engine, sqlite_url
from app.metadata.hotindex import HotIndex
from app.metadata.namespace import NamespaceStore
from app.metadata.repository import FileRecord, MetadataStore
from app.metadata.schema import settings
from app.metadata.settings import SettingStore
from app.metadata.uploads import OpenUploadLimits, UploadStore
from app.metadata.visibility import Visibility
from app.security import READ, UrlSigner, blob_token
from app.server.connection import FAST_PATH
from app.storage import parse_digest

log = logging.getLogger(__name__)

EXTENSION = "mdbx.master"
# A node's registrations also tell that it is alive, at most this often (seconds): the
# beat is a write transaction of its own, and registrations come many times a second.
ALIVE_NOTE_INTERVAL = 1.0
# The node list behind placement and reads is re-read at most this often (seconds): an
# /assign per write made it a query per write. Liveness is still judged against the
# current time; only a beat that just arrived at a sibling worker is seen this much later.
NODE_LIST_TTL = 0.25
REPAIRER = "mdbx.master.repairer"
PROBER = "mdbx.master.prober"
# The settings entry of the open mode's signing key.
SIGNING_KEY = "blob_url_key"


class MasterService:
    """The master's operations over its metadata, its view of nodes, and the nodes."""

    def __init__(
        self,
        store: MetadataStore,
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
        open_upload_limits: OpenUploadLimits | None = None,
        open_key: str = "",
    ) -> None:
        self.store = store
        self.visibility = Visibility(store.engine)
        # Sent to nodes in open mode, to check the tokens of reads of private copies
        # (in secured mode they have the cluster secret, which signs them).
        self.open_key = open_key
        self.cluster = cluster
        self.index = index
        self.nodes = nodes
        self.writer = writer
        self.replication = writer.replication
        self.node_timeout = node_timeout
        self.repair_grace = repair_grace
        self.block_size = block_size
        self.upload_ttl = upload_ttl
        # Signs the node URLs handed to clients in secured mode; a no-op in open mode.
        self.signer = signer
        self._alive_noted: dict[tuple[str, str], float] = {}
        self._node_list: tuple[float, list[NodeRecord]] | None = None
        self.upload_store = uploads
        self.reader = BlockReader(nodes, cluster, self.live_nodes)
        self.uploads = UploadService(
            store,
            uploads,
            self.reader,
            self.live_nodes,
            replication=self.replication,
            block_size=block_size,
            ttl=upload_ttl,
            signer=signer,
            limits=open_upload_limits,
        )
        self.reports = CopyReports(store, cluster, nodes)
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
                {"id": node.id, "url": node.url} for node in self.peers_needed(holders)
            ]
        return answer

    def register_copies(self, registration: CopyRegistration) -> dict[str, Any]:
        """A node's batch of new copies (its uploads' group commit), in one transaction.

        Each answer says, for a copy whose node asked (``want_peers``), which live peers
        should get a copy for the blob to reach R.
        """
        node_id, copies, wants = registration.node, registration.copies, registration.wants_peers
        self.store.register_copies(node_id, copies)
        self._note_alive(node_id, registration.url)
        # Public copies only: a node's upload is public content, read only from those.
        holders = self.store.blob_copies(
            [c.hash for c, want in zip(copies, wants, strict=True) if want], public_only=True
        )
        results = []
        for copy, want in zip(copies, wants, strict=True):
            peers = self.peers_needed(holders.get(copy.hash, ())) if want else []
            results.append(
                {"hash": copy.hash, "replicate_to": [{"id": n.id, "url": n.url} for n in peers]}
            )
        return {"node": node_id, "results": results}

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
            self.nodes, self.cluster, purged, self.live_nodes()
        )
        return {
            "deleted": file_hash,
            "blobs_deleted": len(purged),
            "copies_deleted": copies_deleted,
            "copies_pending": copies_pending,
        }

    # ----- nodes -----

    def live_nodes(self) -> list[NodeRecord]:
        now = time.monotonic()
        if self._node_list is None or now - self._node_list[0] > NODE_LIST_TTL:
            self._node_list = (now, self.cluster.list_nodes())
        return live_nodes(self._node_list[1], time.time(), self.node_timeout)

    def _note_alive(self, node_id: str, url: str) -> None:
        now = time.monotonic()
        if now - self._alive_noted.get((node_id, url), -ALIVE_NOTE_INTERVAL) >= ALIVE_NOTE_INTERVAL:
            self.cluster.heartbeat(node_id, url)
            self._alive_noted[(node_id, url)] = now

    def take_heartbeat(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Record a node's beat and figures; answer the deletions it still owes."""
        node_id, url = parse_node(payload)
        self.cluster.settle_deletes(node_id, parse_hash_list(payload, "deleted"))
        self.cluster.heartbeat(node_id, url, parse_stats(payload))
        self._node_list = None  # this worker sees the beat at once
        return {
            "node": node_id,
            "delete": self.cluster.deletes_owed_by(node_id),
            **self._cluster_view(),
        }

    def take_inventory(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Confirm a node's batch of copies (new ones once checked on the node), and tell
        it which to serve only through signed URLs (it may have lost that, or never had
        it: app.metadata.visibility) and what it should know of the cluster."""
        answer = self.reports.take_inventory(payload)
        reported = [item["hash"] for item in payload.get("files", [])]  # checked by now
        answer["private"] = self.visibility.private_copies_on(answer["node"], reported)
        return {**answer, **self._cluster_view()}

    def _cluster_view(self) -> dict[str, Any]:
        """What nodes learn from the answers to their reports (``app.node.membership``):
        the nodes they may fetch from and forward to, and the open mode's signing key."""
        view: dict[str, Any] = {"nodes": [node.url for node in self.cluster.list_nodes()]}
        if self.open_key:
            view["signing_key"] = self.open_key
        return view

    def take_bad_copy(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A node lacks copies (corrupt, missing, deleted): forget them so repair replaces them."""
        return self.reports.take_losses(payload)

    def list_nodes(self) -> list[dict[str, Any]]:
        now = time.time()
        return [node.to_dict(now, self.node_timeout) for node in self.cluster.list_nodes()]

    def peers_needed(self, holder_ids: Sequence[str]) -> list[NodeRecord]:
        """Live nodes that should receive a copy for a blob held by ``holder_ids`` to
        have R live copies."""
        live = self.live_nodes()
        holders = set(holder_ids)
        have = sum(1 for node in live if node.id in holders)
        return choose_nodes([n for n in live if n.id not in holders], self.replication - have)

    # ----- writes -----

    def store_upload(
        self, stream: IO[bytes], content_type: str | None, expected: str | None = None
    ) -> dict[str, Any]:
        """Store a multipart upload's file part of any size, as it arrives.

        ``expected`` (``?hash=``), else a form field ``hash``: the SHA-256 the file must
        have, as a node checks it (400 hash_mismatch, and no file registered).
        """
        digest = parse_digest(expected) if expected else None
        upload = read_file_part(stream, content_type, "file", lambda _name: self._ingest())
        assert upload.sink is not None
        try:
            if digest is None and (field := upload.fields.get("hash")):
                digest = parse_digest(field)
        except InvalidHash:
            upload.sink.abort()
            raise
        record = upload.sink.finish(clean_name(upload.filename), digest)
        return self._upload_answer(record)

    def store_stream(
        self, stream: IO[bytes], name: str, expected: str | None = None
    ) -> dict[str, Any]:
        """Store a raw request body (``curl -T``) of any size, as it arrives; ``expected``
        as for ``store_upload``."""
        digest = parse_digest(expected) if expected else None
        return self._upload_answer(self.ingest_stream(stream, clean_name(name), expected=digest))

    def ingest_stream(
        self, stream: IO[bytes], name: str, *, public: bool = True, expected: str | None = None
    ) -> FileRecord:
        """Store a stream of any size as blocks; ``public=False`` keeps it out of the
        global catalogue (content of the per-user API), its new copies private;
        ``expected``: its SHA-256."""
        ingest = self._ingest(public)
        try:
            while chunk := stream.read(BODY_CHUNK):
                ingest.write(chunk)
        except BaseException:
            ingest.abort()
            raise
        return ingest.finish(name, expected)

    def store_bytes(self, data: bytes, name: str) -> FileRecord:
        """Store ``data`` with R copies (Seedream images); return the registered file."""
        ingest = self._ingest()
        ingest.write(data)
        return ingest.finish(name)

    def _ingest(self, public: bool = True) -> BlockIngest:
        live = self.live_nodes()
        if not live:
            raise ServiceUnavailable("no storage node is available", code="no_live_nodes")
        return BlockIngest(
            self.writer,
            self.upload_store,
            self.cluster,
            live,
            self.block_size,
            self.upload_ttl,
            public=public,
        )

    def _upload_answer(self, record: FileRecord) -> dict[str, Any]:
        record = record.public_view()
        return {
            "success": True,
            "message": "File Upload Successful",
            **record.to_dict(),
            "copies": min(len(part.replicas) for part in record.parts),
            "replication": self.replication,
            "quorum": self.writer.quorum,
        }

    def assign(self, count: int | None = None) -> dict[str, Any]:
        """Choose ``count`` nodes (None: R) a client should write to; the first one
        forwards down the chain."""
        wanted = count or self.replication
        targets = choose_nodes(self.live_nodes(), wanted)
        if not targets:
            raise ServiceUnavailable("no storage node is available", code="no_live_nodes")
        return {
            "nodes": [{"id": node.id, "url": node.url} for node in targets],
            "upload_url": f"{targets[0].url}/upload",
            "chain": [node.url for node in targets[1:]],
            "replication": self.replication,
        }

    # ----- reads -----

    def locate(self, hash_param: str | None) -> tuple[FileRecord, str | None]:
        """Return the file, and a signed URL of a live node that can send it whole.

        A file of one blob: its ``/retrieve`` on a live replica (none: 503). A file of
        several blocks: ``/file`` on a live node holding every block, which sends them
        from its disk; when no one node does, None, and the master streams it.
        """
        record = self.get_file(hash_param)
        if record.blocks:
            holders = set.intersection(*(set(block.replicas) for block in record.blocks))
            endpoint = "file"
        else:
            holders, endpoint = set(record.replicas), "retrieve"
        urls = [node.url for node in self.live_nodes() if node.id in holders]
        if not urls:
            if record.blocks:
                return record, None
            raise ServiceUnavailable(f"no live node holds {record.hash}", code="no_live_replica")
        url = f"{random.choice(urls)}/{endpoint}?hash={record.hash}"
        return record, self.signer.read_url(url, record.hash)

    def block_map(self, hash_param: str | None) -> dict[str, Any]:
        """Where each block of a file can be read (a small file is its own one block).

        In secured mode each block also has a ``token``: the read token of its hash, good
        on every node listed (``<url>/retrieve?hash=<hash>&token=<token>``).
        """
        record = self.get_file(hash_param)
        urls = {node.id: node.url for node in self.live_nodes()}
        blocks = []
        for part in record.parts:
            block: dict[str, Any] = {
                "hash": part.hash,
                "size": part.size,
                "offset": part.offset,
                "urls": [urls[node] for node in part.replicas if node in urls],
            }
            if token := self.signer.read_token(part.hash):
                block["token"] = token
            blocks.append(block)
        return {
            "hash": record.hash,
            "name": record.name,
            "size": record.size,
            "block_size": record.block_size or record.size,
            "blocks": blocks,
        }

    def read_bytes(self, hash_param: str | None) -> bytes:
        """A whole (small) file, every block checked against its hash."""
        return self.reader.read_all(self.get_file(hash_param))

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
        """Count blobs by how many of their copies are live and how many still count."""
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
        }


def init_app(app: Flask) -> None:
    """Wire the metadata store (SQLite under DATA_DIR unless METADATA_URL says otherwise)."""
    config = app.config
    data_dir = Path(config["DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    url = config["METADATA_URL"] or sqlite_url(data_dir / "metadata.db")
    engine = make_engine(url)
    store = MetadataStore(engine)
    secret = config["CLUSTER_SECRET"]
    # The master's own reads of private copies carry read tokens: signed with the cluster
    # secret, or in open mode with one random key that every master on this database
    # shares and sends its nodes.
    key = secret or SettingStore(engine, settings).get_or_create(
        SIGNING_KEY, lambda: secrets.token_urlsafe(32)
    )
    ttl = config["READ_URL_TTL"]
    nodes = NodeClient(secret, read_token=lambda digest: blob_token(key, READ, digest, ttl))
    writer = ReplicatedWriter(
        nodes, replication=config["REPLICATION"], write_quorum=config["WRITE_QUORUM"]
    )
    cluster = ClusterStore(engine)
    uploads = UploadStore(store)
    repairer = Repairer(
        store,
        uploads,
        NamespaceStore(engine),
        cluster,
        nodes,
        replication=config["REPLICATION"],
        node_timeout=config["NODE_TIMEOUT"],
        repair_grace=config["REPAIR_GRACE"],
        gc_grace=config["GC_GRACE"],
        trash_retention=config["TRASH_RETENTION"],
        version_retention=config["VERSION_RETENTION"],
        interval=config["REPAIR_INTERVAL"],
        batch=config["REPAIR_BATCH"],
        lock_path=data_dir / "repair.lock",
    )
    app.extensions[REPAIRER] = repairer
    prober = NodeProber(
        cluster,
        nodes,
        node_timeout=config["NODE_TIMEOUT"],
        interval=config["NODE_PROBE_INTERVAL"],
        timeout=config["NODE_PROBE_TIMEOUT"],
        lock_path=data_dir / "probe.lock",
    )
    app.extensions[PROBER] = prober
    if config["BACKGROUND_TASKS"]:
        repairer.start()
        if config["NODE_PROBE_INTERVAL"]:
            prober.start()
    app.extensions[EXTENSION] = MasterService(
        store,
        cluster,
        HotIndex(store, config["HOT_INDEX_SIZE"]),
        nodes,
        writer,
        uploads,
        node_timeout=config["NODE_TIMEOUT"],
        repair_grace=config["REPAIR_GRACE"],
        block_size=config["BLOCK_SIZE"],
        upload_ttl=config["UPLOAD_TTL"],
        signer=UrlSigner(secret, config["READ_URL_TTL"], config["WRITE_URL_TTL"]),
        open_upload_limits=OpenUploadLimits(
            config["MAX_OPEN_UPLOADS"], config["MAX_OPEN_UPLOAD_BLOCKS"]
        ),
        open_key="" if secret else key,
    )
    app.extensions[FAST_PATH] = master_fast_path(
        app.extensions[EXTENSION],
        secret=config["CLUSTER_SECRET"],
        read_timeout=config["READ_TIMEOUT"],
        write_timeout=config["WRITE_TIMEOUT"],
    )


def repair_now() -> RepairReport:
    """Run one repair pass in this request (admin); the background loop does the same."""
    repairer: Repairer = current_app.extensions[REPAIRER]
    return repairer.run_pass()


def master_service() -> MasterService:
    """Return the MasterService of the current app."""
    return master_service_of(current_app)


def master_service_of(app: Flask) -> MasterService:
    service: MasterService = app.extensions[EXTENSION]
    return service
