"""The master's wiring, called by the factory only: the metadata engine and stores, the
node client, the master service, its background tasks (repair, probes) and the fast
path, built from ``app.config`` and kept in ``app.extensions``."""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask

from app.cluster.node_client import NodeClient
from app.http.readiness import METRIC_FACTS
from app.master.journal import TreeJournal
from app.master.manifests import ManifestWriter
from app.master.metrics import master_facts
from app.master.overlay import master_fast_path
from app.master.probe import NodeProber
from app.master.reads import BLOCK_URL_TTL
from app.master.recovery import Recovery
from app.master.replication import Repairer, RepairLog
from app.master.service import (
    EXTENSION,
    JOURNAL,
    PROBER,
    RECOVERY,
    REPAIRER,
    STREAMS,
    MasterService,
)
from app.master.snapshots import Snapshots
from app.master.streams import NodeStreams
from app.master.writer import ReplicatedWriter
from app.metadata.changes import FeedStore
from app.metadata.cluster import ClusterStore
from app.metadata.engine import make_engine, sqlite_url
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.hotindex import HotIndex
from app.metadata.namespace import NamespaceStore
from app.metadata.records import NodeRecord
from app.metadata.schema import settings
from app.metadata.settings import SettingStore
from app.metadata.uploads import OpenUploadLimits, UploadStore
from app.security import READ, UrlSigner, blob_token
from app.server.connection import FAST_PATH, WORKER_STATE, WorkerState

# The settings entry of the open mode's signing key.
SIGNING_KEY = "blob_url_key"


def init_app(app: Flask) -> None:
    """Wire the metadata store (SQLite under DATA_DIR unless METADATA_URL says otherwise)."""
    config = app.config
    data_dir = Path(config["DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    url = config["METADATA_URL"] or sqlite_url(data_dir / "metadata.db")
    engine = make_engine(url)
    store = FileCatalogue(engine)
    secret = config["CLUSTER_SECRET"]
    # The master's own reads of private copies carry read tokens: signed with the cluster
    # secret, or in open mode with one random key that every master on this database
    # shares and sends its nodes.
    setting_store = SettingStore(engine, settings)
    key = secret or setting_store.get_or_create(SIGNING_KEY, lambda: secrets.token_urlsafe(32))
    ttl = config["READ_URL_TTL"]
    nodes = NodeClient(secret, read_token=lambda digest: blob_token(key, READ, digest, ttl))
    writer = ReplicatedWriter(
        nodes, replication=config["REPLICATION"], write_quorum=config["WRITE_QUORUM"]
    )
    cluster = ClusterStore(engine)

    def live() -> list[NodeRecord]:
        return service.directory.live_nodes()  # the service is built below

    uploads = UploadStore(store, ManifestWriter(writer, live))
    repair_log = RepairLog(setting_store)
    journal = app.extensions[JOURNAL] = TreeJournal(store, writer, nodes, live)
    recovery = app.extensions[RECOVERY] = Recovery(
        setting_store,
        Snapshots(
            store,
            writer,
            nodes,
            live,
            setting_store,
            keep=config["SNAPSHOT_KEEP"],
            max_bytes=config["SNAPSHOT_MAX_BYTES"],
            block_size=config["BLOCK_SIZE"],
        ),
        live,
        journal,
        wait=config["RECOVERY_WAIT"],
        snapshot_interval=config["SNAPSHOT_INTERVAL"],
        lock_path=data_dir / "recovery.lock",
    )
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
        log_to=repair_log,
        feed=FeedStore(engine),
        feed_retention=config["FEED_RETENTION"],
        feed_max_changes=config["FEED_MAX_CHANGES"],
        collect_paused=recovery.is_recovering,
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
        # Without them (tests of one process) nothing would end a recovery begun.
        recovery.begin_if_new()
        recovery.start()
        repairer.start()
        if config["NODE_PROBE_INTERVAL"]:
            prober.start()
    service = app.extensions[EXTENSION] = MasterService(
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
        # The per-user API's block URLs, read as the master's own reads of private copies.
        private_signer=UrlSigner(key, min(ttl, BLOCK_URL_TTL), config["WRITE_URL_TTL"]),
        open_upload_limits=OpenUploadLimits(
            config["MAX_OPEN_UPLOADS"], config["MAX_OPEN_UPLOAD_BLOCKS"]
        ),
        open_key="" if secret else key,
        repair_log=repair_log,
        # Touched when a node's stream opens or breaks: the sibling workers see it at once.
        node_changes=data_dir / "nodes.changed",
        sync_epoch=recovery.epoch,
        on_inventory_complete=recovery.note_synced,
    )
    worker = app.extensions[WORKER_STATE] = WorkerState()
    app.extensions[STREAMS] = NodeStreams(
        cluster, nodes, service.directory.note_change, lambda: worker.stopping
    )
    app.extensions[METRIC_FACTS] = master_facts(service)
    app.extensions[FAST_PATH] = master_fast_path(
        service,
        secret=config["CLUSTER_SECRET"],
        read_timeout=config["READ_TIMEOUT"],
        write_timeout=config["WRITE_TIMEOUT"],
    )
