"""The node's wiring, called by the factory only: engines, service, background tasks and
the fast path, built from ``app.config`` and kept in ``app.extensions``."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from app.cluster.master_client import MasterClient
from app.cluster.master_stream import MasterStream
from app.cluster.node_client import NodeClient
from app.http.readiness import METRIC_FACTS
from app.metadata.node_catalogue_file import open_node_catalogue
from app.metadata.node_schema import node_settings
from app.metadata.settings import SettingStore
from app.node.losses import LossReporter
from app.node.membership import Membership
from app.node.metrics import node_facts
from app.node.overlay import node_fast_path
from app.node.scrub import Scrubber, ScrubLog
from app.node.service import EXTENSION, NodeService
from app.node.stream import MasterStreams
from app.node.sync import MasterSync
from app.server.connection import FAST_PATH
from app.storage.blobstore import FileBlobStore


def init_app(app: Flask) -> None:
    """Wire the node's engines from config and start its background sync."""
    config = app.config
    data_dir = Path(config["DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    blobs = FileBlobStore(
        data_dir,
        cache_size=config["EXISTENCE_CACHE_SIZE"],
        fsync=config["FSYNC"],
        syncfs=config["SYNCFS"],
        min_free_bytes=config["MIN_FREE_BYTES"],
    )
    # Before this worker serves: a blob whose move into place a crash lost is read, and
    # reported by the full sync, like any other.
    blobs.recover_sealed()
    # NORMAL (inside): the catalogue can be rebuilt from the blob files, which are fsynced.
    catalog = open_node_catalogue(data_dir / "catalog.db")
    masters = [url.strip() for url in config["MASTER"].split(",") if url.strip()]
    secret = config["CLUSTER_SECRET"]
    master = MasterClient(masters, config["NODE_ID"], config["PUBLIC_URL"], secret)
    node_settings_store = SettingStore(catalog.engine, node_settings)
    membership = Membership(node_settings_store, master.node_urls, secret=secret)
    scrub_log = ScrubLog(node_settings_store)
    sync = MasterSync(
        blobs,
        catalog,
        master,
        membership,
        lock_path=data_dir / "sync.lock",
        scrub_log=scrub_log,
        interval=config["SYNC_INTERVAL"],
        batch_size=config["INVENTORY_BATCH"],
        stale_temp_age=max(config["READ_TIMEOUT"] * 4, 60.0),
    )
    scrubber = Scrubber(
        blobs,
        catalog,
        master.report_corrupt,
        on_missing=master.report_corrupt,
        bytes_per_second=config["SCRUB_BYTES_PER_SECOND"],
        interval=config["SCRUB_INTERVAL"],
        lock_path=data_dir / "scrub.lock",
        log_to=scrub_log,
    )
    # Per worker, unlike the sync and the scrub: each reports what its requests found.
    losses = LossReporter(blobs, catalog, master.report_lost)
    streams = MasterStreams(
        [MasterStream(url, config["NODE_ID"], config["PUBLIC_URL"], secret) for url in masters]
    )
    if config["BACKGROUND_TASKS"]:
        if sync.start():  # in the one worker that syncs: one stream per master
            streams.start()
        scrubber.start()
        losses.start()
    service = app.extensions[EXTENSION] = NodeService(
        node_id=config["NODE_ID"],
        blobs=blobs,
        catalog=catalog,
        master=master,
        peers=NodeClient(secret),
        sync=sync,
        scrubber=scrubber,
        losses=losses,
        membership=membership,
        max_upload_size=config["MAX_UPLOAD_SIZE"],
        secret=secret,
        group_commit_delay=config["GROUP_COMMIT_DELAY"],
    )
    app.extensions[METRIC_FACTS] = node_facts(service)
    app.extensions[FAST_PATH] = node_fast_path(
        service, read_timeout=config["READ_TIMEOUT"], write_timeout=config["WRITE_TIMEOUT"]
    )
