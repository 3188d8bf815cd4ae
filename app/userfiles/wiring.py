"""The user-files service of a master app, built once on the master's database and
blocks (the factory calls ``init_app``; views fetch it with ``app.userfiles.current``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO

from flask import Flask

from app.errors import AppError
from app.master.account_uploads import AccountBlockUploads
from app.master.journal import TreeJournal
from app.master.resumable import ResumableWrites
from app.master.service import JOURNAL, MasterService
from app.metadata.accounts import UserStore
from app.metadata.changes import FeedStore
from app.metadata.namespace import NamespaceStore
from app.metadata.records import FileRecord
from app.metadata.resumable import ResumableStore
from app.metadata.shares import ShareStore
from app.security import ADMIN_TOKEN_CHECK
from app.userfiles.batch import BatchWrites
from app.userfiles.change_wait import ChangeWatch
from app.userfiles.current import (
    BATCH_EXTENSION,
    DELTA_EXTENSION,
    DIRECT_EXTENSION,
    EXTENSION,
    FEED_EXTENSION,
    RESUMABLE_EXTENSION,
)
from app.userfiles.delta import DeltaWrites
from app.userfiles.direct import DirectUploads
from app.userfiles.feed import ChangeFeedService
from app.userfiles.feed_interface import ChangeFeed
from app.userfiles.interface import BlockSource, UserFiles
from app.userfiles.resumable import ResumableUploadService
from app.userfiles.resumable_interface import ResumableUploads
from app.userfiles.service import UserFileService


class MasterContent:
    """``ContentStore`` on the master: replicated blocks, private copies, kept out of
    the global catalogue."""

    def __init__(self, master: MasterService) -> None:
        self._master = master

    def store(self, stream: IO[bytes], name: str) -> FileRecord:
        return self._master.writes.ingest_stream(stream, name, public=False)

    def store_small(self, items: Sequence[tuple[bytes, str]]) -> list[FileRecord | AppError]:
        return self._master.writes.store_small_files(items)

    def store_checked(self, stream: IO[bytes], name: str, expected: str) -> FileRecord:
        return self._master.writes.ingest_stream(stream, name, public=False, expected=expected)

    def find(self, file_hash: str) -> FileRecord | None:
        return self._master.index.get(file_hash)

    def find_many(self, file_hashes: Sequence[str]) -> dict[str, FileRecord]:
        return self._master.index.get_many(file_hashes)

    def read(self, record: FileRecord, start: int, stop: int) -> Iterator[bytes]:
        return self._master.reader.iter_range(record, start, stop)

    def locate(self, record: FileRecord) -> list[BlockSource]:
        return [
            BlockSource(block.hash, block.offset, block.size, tuple(urls))
            for block, urls in self._master.reads.signed_blocks(record)
        ]


def init_app(app: Flask, master: MasterService) -> None:
    """Build the services on the master's engine; register the admin check for the
    secured global API."""
    engine = master.store.engine
    # Every change of a tree, an account or a share link is journaled on the nodes before
    # it is answered.
    journal: TreeJournal = app.extensions[JOURNAL]
    namespace = NamespaceStore(engine, on_write=journal.record)
    # Typed as the interface: mypy checks that the service implements all of it.
    stored = MasterContent(master)
    service: UserFiles = UserFileService(
        UserStore(engine, on_write=journal.record),
        namespace,
        ShareStore(engine, on_write=journal.record),
        stored,
        cluster_secret=app.config.get("CLUSTER_SECRET", ""),
        public_url=app.config["PUBLIC_URL"],
        session_lifetime=app.config["SESSION_LIFETIME"],
        password_method=app.config["PASSWORD_HASH"],
    )
    app.extensions[EXTENSION] = service
    content = ResumableWrites(
        master.writes, master.reader, ResumableStore(engine), ttl=app.config["UPLOAD_TTL"]
    )
    resumable: ResumableUploads = ResumableUploadService(
        namespace,
        content,
        chunk_bytes=app.config["UPLOAD_CHUNK_BYTES"],
        block_bytes=app.config["BLOCK_SIZE"],
    )
    app.extensions[RESUMABLE_EXTENSION] = resumable
    feed = FeedStore(engine)
    changes: ChangeFeed = ChangeFeedService(namespace, feed, ChangeWatch(feed))
    app.extensions[FEED_EXTENSION] = changes
    app.extensions[BATCH_EXTENSION] = BatchWrites(
        namespace, stored, max_file=app.config["BLOCK_SIZE"]
    )
    delta = app.extensions[DELTA_EXTENSION] = DeltaWrites(
        namespace, stored, block_size=app.config["BLOCK_SIZE"]
    )
    app.extensions[DIRECT_EXTENSION] = DirectUploads(namespace, account_blocks(app, master), delta)
    app.extensions[ADMIN_TOKEN_CHECK] = service.is_admin_token


def account_blocks(app: Flask, master: MasterService) -> AccountBlockUploads:
    """The master's side of account uploads sent to the nodes: its blocks signed, and
    receipts checked, with the key of private copies' URLs (the cluster secret, or the
    open-mode key the nodes were sent)."""
    signer = master.reads.private_signer
    if signer is None:
        raise RuntimeError("the master has no signer of private copies' URLs")
    return AccountBlockUploads(
        master.writes.upload_store,
        master.reader,
        master.nodes,
        master.directory.live_nodes,
        replication=master.replication,
        block_size=app.config["BLOCK_SIZE"],
        ttl=app.config["UPLOAD_TTL"],
        signer=signer,
        limits=master.uploads.limits,
    )
