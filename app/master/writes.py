"""The master's writes: files it receives whole (multipart, raw body, bytes of its own),
stored as blocks with R copies, and the nodes it assigns to writers that go to them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import IO, Any

from app.errors import AppError, InvalidHash, ServiceUnavailable
from app.http.bodies import BODY_CHUNK
from app.http.multipart import clean_name, read_file_part
from app.master.ingest import BlockIngest
from app.master.placement import choose_nodes
from app.master.writer import ReplicatedWriter
from app.metadata.cluster import ClusterStore
from app.metadata.records import FileRecord, NodeRecord
from app.metadata.uploads import UploadStore
from app.storage.digests import parse_digest


class FileWrites:
    """Stores what arrives at the master; chooses the nodes of what goes to them."""

    def __init__(
        self,
        writer: ReplicatedWriter,
        upload_store: UploadStore,
        cluster: ClusterStore,
        live_nodes: Callable[[], list[NodeRecord]],
        *,
        block_size: int,
        upload_ttl: float,
    ) -> None:
        self.writer = writer
        self.replication = writer.replication
        self.upload_store = upload_store
        self.cluster = cluster
        self.live_nodes = live_nodes
        self.block_size = block_size
        self.upload_ttl = upload_ttl

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

    def store_small_files(self, items: Sequence[tuple[bytes, str]]) -> list[FileRecord | AppError]:
        """Store each (bytes of at most one block, name) as one private blob with R copies,
        concurrently, and register them all in one transaction; answer each file's
        record, or the error that kept it from R copies (nothing registered for it).
        The same bytes twice are written once."""
        live = self.live_nodes()
        if not live:
            raise ServiceUnavailable("no storage node is available", code="no_live_nodes")
        digests = [hashlib.sha256(data).hexdigest() for data, _name in items]
        firsts = {digest: index for index, digest in reversed(list(enumerate(digests)))}
        unique = [(digest, items[i][1], items[i][0]) for digest, i in firsts.items()]
        results = self.writer.write_many(live, unique, private=True) if unique else []
        written = dict(zip(firsts, results, strict=True))
        stored: list[tuple[FileRecord, Sequence[str]]] = []
        answers: list[FileRecord | AppError] = []
        for (data, name), digest in zip(items, digests, strict=True):
            result = written[digest]
            if isinstance(result, AppError):
                answers.append(result)
                continue
            record = FileRecord(digest, name or digest, len(data), result.stored_on, public=False)
            stored.append((record, result.created_on))
            answers.append(record)
        self.upload_store.store.register_many(stored)
        return answers

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
