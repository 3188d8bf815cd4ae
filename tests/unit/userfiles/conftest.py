"""The user-files service on a real SQLite database, with its content kept in memory."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from app.metadata.accounts import UserStore
from app.metadata.engine import make_engine, sqlite_url
from app.metadata.namespace import NamespaceStore
from app.metadata.records import FileRecord
from app.metadata.shares import ShareStore
from app.userfiles.interface import BlockSource, User, UserFiles
from app.userfiles.service import UserFileService

PUBLIC_URL = "https://files.example.com"


class MemoryContent:
    """A ``ContentStore`` in a dict: what the master's blocks hold, minus the nodes."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def store(self, stream: IO[bytes], name: str) -> FileRecord:
        data = b""
        while chunk := stream.read(7):  # small reads: a quota cuts a body off mid-way
            data += chunk
        digest = hashlib.sha256(data).hexdigest()
        self.blobs[digest] = data
        return FileRecord(digest, name, len(data), public=False)

    def find(self, file_hash: str) -> FileRecord | None:
        data = self.blobs.get(file_hash)
        return None if data is None else FileRecord(file_hash, file_hash, len(data), public=False)

    def find_many(self, file_hashes: Sequence[str]) -> dict[str, FileRecord]:
        records = {file_hash: self.find(file_hash) for file_hash in file_hashes}
        return {file_hash: record for file_hash, record in records.items() if record}

    def read(self, record: FileRecord, start: int, stop: int) -> Iterator[bytes]:
        yield self.blobs[record.hash][start:stop]

    def locate(self, record: FileRecord) -> list[BlockSource]:
        return [BlockSource(record.hash, 0, record.size, ())]  # no nodes: no URLs


@pytest.fixture
def content() -> MemoryContent:
    return MemoryContent()


@pytest.fixture
def make_service(tmp_path: Path, content: MemoryContent) -> Iterator[Callable[..., UserFiles]]:
    """Build the service (open mode unless given a cluster secret) on one database."""
    engine = make_engine(sqlite_url(tmp_path / "meta.db"))

    def make(cluster_secret: str = "", **options: Any) -> UserFiles:
        return UserFileService(
            UserStore(engine),
            NamespaceStore(engine),
            ShareStore(engine),
            content,
            cluster_secret=cluster_secret,
            public_url=PUBLIC_URL,
            **options,
        )

    yield make
    engine.dispose()


@pytest.fixture
def service(make_service: Callable[..., UserFiles]) -> UserFiles:
    return make_service()


@pytest.fixture
def alice(service: UserFiles) -> User:
    service.add_user("alice", "pw-alice", quota_bytes=100)
    return service.authenticate(service.login("alice", "pw-alice").token)
