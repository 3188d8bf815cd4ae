"""Master logic: validate and record registrations, answer lookups, take inventories."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from app.errors import FileNotFound, InvalidField, InvalidHash, MissingField, ServiceUnavailable
from app.master.client import NodeClient, NodeUnavailable
from app.master.placement import choose_nodes, live_nodes
from app.metadata.engine import make_engine, sqlite_url
from app.metadata.hotindex import HotIndex
from app.metadata.repository import FileRecord, MetadataStore

log = logging.getLogger(__name__)

EXTENSION = "mdbx.master"
# Keys are SHA-256 digests in practice, but the reference registers "test123": any short
# token of safe characters is accepted, nothing that could become a path or markup.
FILE_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,128}")
NODE_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
MAX_NAME_LENGTH = 1024
MAX_INVENTORY_BATCH = 10_000


def parse_file_key(value: Any, field: str = "hash") -> str:
    """Return a valid file key; 400 missing_field or invalid_hash otherwise."""
    if value is None or value == "":
        raise MissingField(field)
    if not isinstance(value, str) or not FILE_KEY_RE.fullmatch(value):
        raise InvalidHash(f"'{field}' must be 1-128 letters, digits, '-' or '_'")
    return value


def _parse_record(payload: dict[str, Any], replicas_field: bool = True) -> FileRecord:
    file_hash = parse_file_key(payload.get("hash"))
    name = payload.get("name", "")
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or "\x00" in name:
        raise InvalidField("name", f"'name' must be a string of at most {MAX_NAME_LENGTH} chars")
    size = payload.get("size")
    if size is None:
        raise MissingField("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidField("size", "'size' must be a non-negative integer (bytes)")
    replicas: list[str] = []
    if replicas_field:
        raw = payload.get("replicas", [])
        if not isinstance(raw, list) or not all(
            isinstance(r, str) and NODE_ID_RE.fullmatch(r) for r in raw
        ):
            raise InvalidField("replicas", "'replicas' must be a list of node ids such as \"8001\"")
        replicas = raw
    return FileRecord(file_hash, name, size, tuple(replicas))


class MasterService:
    """The master's operations over its metadata store and hot index."""

    def __init__(
        self,
        store: MetadataStore,
        index: HotIndex,
        nodes: NodeClient,
        *,
        replication: int,
        node_timeout: float,
    ) -> None:
        self.store = store
        self.index = index
        self.nodes = nodes
        self.replication = replication
        self.node_timeout = node_timeout
        # Extra /health fields from other parts of the master app (e.g. "seedream").
        self.health_details: dict[str, Any] = {}

    def register_file(self, payload: dict[str, Any]) -> FileRecord:
        """Record a file and the replicas given; known replicas are kept."""
        return self.store.register(_parse_record(payload))

    def get_file(self, hash_param: str | None) -> FileRecord:
        file_hash = parse_file_key(hash_param)
        record = self.index.get(file_hash)
        if record is None:
            raise FileNotFound(f"no file registered under {file_hash}")
        return record

    def list_files(self) -> list[FileRecord]:
        return self.store.list_files()

    def take_inventory(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Confirm a node's batch of copies; a complete sync forgets unconfirmed ones."""
        node_id = payload.get("node")
        if not isinstance(node_id, str) or not NODE_ID_RE.fullmatch(node_id):
            raise InvalidField("node", "'node' must be a node id")
        url = payload.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidField("url", "'url' must be the node's http(s) URL")
        items = payload.get("files", [])
        if not isinstance(items, list) or len(items) > MAX_INVENTORY_BATCH:
            raise InvalidField("files", f"'files' must be a list of at most {MAX_INVENTORY_BATCH}")
        records = [
            _parse_record(item, replicas_field=False) for item in items if isinstance(item, dict)
        ]
        if len(records) != len(items):
            raise InvalidField("files", "each entry of 'files' must be an object")
        sync_started = payload.get("sync_started")
        if sync_started is None:
            sync_started = time.time()
        elif isinstance(sync_started, bool) or not isinstance(sync_started, int | float):
            raise InvalidField("sync_started", "'sync_started' must be a number or null")
        self.store.touch_node(node_id, url)
        self.store.confirm_inventory(node_id, records)
        pruned = 0
        if payload.get("complete") is True:
            pruned = self.store.prune_replicas(node_id, float(sync_started))
        return {
            "node": node_id,
            "confirmed": len(records),
            "pruned": pruned,
            "sync_started": sync_started,
        }

    def store_bytes(self, data: bytes, name: str) -> FileRecord:
        """Write ``data`` to up to REPLICATION live nodes; succeed once one copy is durable.

        Each node verifies the bytes against their hash and registers its copy.
        """
        digest = hashlib.sha256(data).hexdigest()
        candidates = live_nodes(self.store.list_nodes(), time.time(), self.node_timeout)
        targets = choose_nodes(candidates, self.replication)
        # Nodes beyond the first choices stand in for any that fail.
        spares = [node for node in candidates if node not in targets]
        stored: list[str] = []
        for node in [*targets, *spares]:
            if len(stored) == len(targets):
                break
            try:
                self.nodes.put_blob(node.url, name, data, digest)
            except NodeUnavailable as exc:
                log.warning("copy of %s not stored: %s", digest, exc.message)
                continue
            stored.append(node.id)
        if not stored:
            raise ServiceUnavailable("no storage node is available", code="no_live_nodes")
        return self.store.register(FileRecord(digest, name, len(data), tuple(stored)))

    def locate(self, hash_param: str | None) -> str:
        """Return a URL from which a live replica of the file can be read."""
        record = self.get_file(hash_param)
        urls = {
            node.id: node.url
            for node in live_nodes(self.store.list_nodes(), time.time(), self.node_timeout)
        }
        for replica in record.replicas:
            if replica in urls:
                return f"{urls[replica]}/retrieve?hash={record.hash}"
        raise ServiceUnavailable(f"no live node holds {record.hash}", code="no_live_replica")

    def health(self) -> dict[str, Any]:
        return {
            "status": "OK",
            "role": "master",
            "nodes": len(self.store.list_nodes()),
            "files": self.store.count_files(),
            **self.health_details,
        }

    def list_nodes(self) -> list[dict[str, Any]]:
        return [node.to_dict() for node in self.store.list_nodes()]


def init_app(app: Flask) -> None:
    """Wire the metadata store (SQLite under DATA_DIR unless METADATA_URL says otherwise)."""
    data_dir = Path(app.config["DATA_DIR"])
    url = app.config["METADATA_URL"]
    if not url:
        data_dir.mkdir(parents=True, exist_ok=True)
        url = sqlite_url(data_dir / "metadata.db")
    store = MetadataStore(make_engine(url))
    app.extensions[EXTENSION] = MasterService(
        store,
        HotIndex(store, app.config["HOT_INDEX_SIZE"]),
        NodeClient(),
        replication=app.config["REPLICATION"],
        node_timeout=app.config["NODE_TIMEOUT"],
    )


def master_service() -> MasterService:
    """Return the MasterService of the current app."""
    service: MasterService = current_app.extensions[EXTENSION]
    return service
