"""Node logic: store an upload durably, register it, find a blob to serve, report health."""

from __future__ import annotations

import logging
import mimetypes
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from flask import Flask, current_app

from app.errors import PayloadTooLarge
from app.metadata.catalog import BlobCatalog, BlobEntry
from app.metadata.engine import make_engine, sqlite_url
from app.multipart import MAX_FIELD_BYTES, read_file_part
from app.node.client import MasterClient, MasterUnavailable
from app.node.sync import MasterSync
from app.storage import FileBlobStore, FileBlobWriter, parse_digest

log = logging.getLogger(__name__)

EXTENSION = "mdbx.node"
MAX_NAME_LENGTH = 255


@dataclass(frozen=True)
class BlobToServe:
    path: Path
    digest: str
    name: str
    mimetype: str


def clean_name(filename: str | None) -> str:
    """Return a display name from a client's filename: last path part, no control chars.

    Names are metadata only, never paths, but a name full of control characters or
    directory parts would still be a trap for whoever downloads the file later.
    """
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    printable = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    return printable.strip()[:MAX_NAME_LENGTH]


class NodeService:
    """Everything a node does, wired with its engines."""

    def __init__(
        self,
        *,
        node_id: str,
        blobs: FileBlobStore,
        catalog: BlobCatalog,
        master: MasterClient,
        sync: MasterSync,
        max_upload_size: int,
    ) -> None:
        self.node_id = node_id
        self.blobs = blobs
        self.catalog = catalog
        self.master = master
        self.sync = sync
        self.max_upload_size = max_upload_size

    def store_upload(
        self,
        stream: IO[bytes],
        content_type: str | None,
        content_length: int | None,
        expected_hash: str | None = None,
    ) -> dict[str, Any]:
        """Store the multipart ``file`` part; answer the reference's upload JSON and more."""
        if content_length is not None and content_length > self.max_upload_size + MAX_FIELD_BYTES:
            raise PayloadTooLarge(f"uploads to a node are limited to {self.max_upload_size} bytes")
        writers: list[FileBlobWriter] = []

        def open_writer(_filename: str) -> FileBlobWriter:
            writer = self.blobs.open_writer(self.max_upload_size, content_length)
            writers.append(writer)
            return writer

        try:
            upload = read_file_part(stream, content_type, "file", open_writer)
        except BaseException:
            for writer in writers:
                writer.abort()
            raise
        assert upload.sink is not None
        wanted = expected_hash or upload.fields.get("hash")
        stored = self.blobs.commit(upload.sink, parse_digest(wanted) if wanted else None)
        name = clean_name(upload.filename) or stored.digest
        entry = self.catalog.record(stored.digest, name, stored.size)
        registered = self._register(entry, name)
        return {
            "success": True,
            "message": "File Upload Successful",
            "hash": stored.digest,
            "name": name,
            "size": stored.size,
            "node": self.node_id,
            "deduplicated": not stored.created,
            "registered": registered,
        }

    def open_blob(self, hash_param: str | None) -> BlobToServe:
        """Find a blob to stream; the Content-Type comes from the stored name."""
        digest = parse_digest(hash_param)
        path = self.blobs.locate(digest)
        name = self.catalog.name_of(digest) or digest
        mimetype, _encoding = mimetypes.guess_type(name, strict=False)
        return BlobToServe(path, digest, name, mimetype or "application/octet-stream")

    def health(self) -> dict[str, Any]:
        stats = self.catalog.stats()
        return {
            "status": "OK",
            "role": "node",
            "node": self.node_id,
            "url": self.master.public_url,
            "files": stats.blobs,
            "bytes_stored": stats.bytes,
            "free_bytes": self.blobs.free_bytes(),
            "master": self.master.master_url,
            "unregistered": stats.unregistered,
        }

    def _register(self, entry: BlobEntry, name: str) -> bool:
        """Tell the master about this copy now; on failure the background sync retries."""
        try:
            self.master.register(entry, name)
        except MasterUnavailable as exc:
            log.warning("registration of %s deferred: %s", entry.hash, exc.message)
            return False
        self.catalog.mark_registered([entry.hash])
        return True


def init_app(app: Flask) -> None:
    """Wire the node's engines from config and start its background sync."""
    config = app.config
    data_dir = Path(config["DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    blobs = FileBlobStore(
        data_dir,
        cache_size=config["EXISTENCE_CACHE_SIZE"],
        fsync=config["FSYNC"],
        min_free_bytes=config["MIN_FREE_BYTES"],
    )
    # NORMAL: the catalogue can be rebuilt from the blob files, which are fsynced.
    catalog = BlobCatalog(make_engine(sqlite_url(data_dir / "catalog.db"), synchronous="NORMAL"))
    master = MasterClient(config["MASTER"], config["NODE_ID"], config["PUBLIC_URL"])
    sync = MasterSync(
        blobs,
        catalog,
        master,
        lock_path=data_dir / "sync.lock",
        interval=config["SYNC_INTERVAL"],
        batch_size=config["INVENTORY_BATCH"],
        stale_temp_age=max(config["READ_TIMEOUT"] * 4, 60.0),
    )
    app.extensions[EXTENSION] = NodeService(
        node_id=config["NODE_ID"],
        blobs=blobs,
        catalog=catalog,
        master=master,
        sync=sync,
        max_upload_size=config["MAX_UPLOAD_SIZE"],
    )
    if config["BACKGROUND_TASKS"]:
        sync.start()


def node_service() -> NodeService:
    """Return the NodeService of the current app."""
    service: NodeService = current_app.extensions[EXTENSION]
    return service
