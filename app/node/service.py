"""Node logic: store an upload durably, register it and bring it to its copies; pull a
copy (repair), delete one, report health. What a node sends is ``app.node.reads``; how
new copies are made durable, registered and catalogued together, ``app.node.commits``."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from typing import IO, Any

from flask import current_app

from app.cluster.master_client import MasterClient
from app.cluster.node_client import NodeClient, NodeUnavailable
from app.cluster.streamed_copy import StreamedCopy
from app.errors import (
    BlobNotFound,
    HashMismatch,
    InsufficientStorage,
    InvalidHash,
    PayloadTooLarge,
    UpstreamError,
)
from app.http.bodies import BODY_CHUNK
from app.http.multipart import MAX_FIELD_BYTES, clean_name, read_file_part
from app.metadata.node_catalogue import BlobEntry, NodeCatalogue
from app.node.access import NodeAccess
from app.node.batches import SentBlob
from app.node.commits import CopyCommitter, PendingCopy
from app.node.losses import LossReporter
from app.node.membership import Membership
from app.node.reads import ReadService
from app.node.scrub import Scrubber
from app.node.sync import MasterSync
from app.node.uploads import FormBody, UploadBody, UploadOptions, parse_kind
from app.security import TOKEN_PARAM, upload_receipt
from app.storage.blobstore import FileBlobStore, check_digest
from app.storage.digests import parse_digest
from app.storage.writer import FileBlobWriter, MemoryBlobWriter, SealedBlob

log = logging.getLogger(__name__)

EXTENSION = "mdbx.node"


class NodeService:
    """A node's copies: stored, pulled, deleted; the role's engines and parts, for its
    views (``access`` decides who may call, ``reads`` answers what it sends)."""

    def __init__(
        self,
        *,
        node_id: str,
        blobs: FileBlobStore,
        catalog: NodeCatalogue,
        master: MasterClient,
        peers: NodeClient,
        sync: MasterSync,
        scrubber: Scrubber,
        losses: LossReporter,
        membership: Membership,
        max_upload_size: int,
        secret: str = "",
        group_commit_delay: float = 0.0,
    ) -> None:
        self.node_id = node_id
        self.membership = membership
        # Every request's check, for the Flask hook and the overlay alike.
        self.access = NodeAccess(catalog, membership, secret=secret)
        self.blobs = blobs
        self.catalog = catalog
        self.master = master
        self.peers = peers
        self.sync = sync
        self.scrubber = scrubber
        self.losses = losses
        self.max_upload_size = max_upload_size
        self.commits = CopyCommitter(
            blobs, catalog, master, peers=peers, group_commit_delay=group_commit_delay
        )
        self.reads = ReadService(blobs, catalog, master, losses)

    def store_upload(self, body: UploadBody, options: UploadOptions) -> dict[str, Any]:
        """Store an upload; answer the reference's upload JSON and more.

        ``body`` is the bytes themselves (a raw PUT, named by ``options.name``) or a form
        whose ``file`` part holds them (and whose ``hash`` field may name the expected
        hash when ``options`` does not).
        """
        overhead = MAX_FIELD_BYTES if isinstance(body, FormBody) else 0
        if body.length is not None and body.length > self.max_upload_size + overhead:
            raise PayloadTooLarge(f"uploads to a node are limited to {self.max_upload_size} bytes")
        # Before the body is read: a node forwards only to nodes the master lists.
        chain = [self.membership.node_url(url, "chain") for url in options.chain]
        name = options.name
        forwarded: StreamedCopy | None = None
        if isinstance(body, FormBody):
            sealed, filename, fields = self._receive_multipart(body)
            name = clean_name(filename)
            try:
                expected = options.expected or (
                    parse_digest(fields["hash"]) if fields.get("hash") else None
                )
                check_digest(sealed, expected)
            except (InvalidHash, HashMismatch):
                self.blobs.drop_sealed(sealed)  # a streamed body is in a temp file already
                raise
        elif isinstance(body.source, bytes):
            sealed = self.blobs.seal_bytes(body.source, options.expected)
        elif chain and body.length is not None:
            # The chain's next copy is sent on as the bytes arrive (``StreamedCopy``).
            forwarded = self.peers.open_copy(
                chain[0],
                name or (options.expected or ""),
                body.length,
                options.expected,
                chain[1:],
                kind=options.kind,
                private=options.private,
            )
            try:
                sink = self._receive_raw(body.source, body.length, forwarded)
                sealed = self.blobs.seal(sink, options.expected)
            except BaseException:
                forwarded.abandon()
                raise
            chain = []
        else:
            sink = self._receive_raw(body.source, body.length)
            sealed = self.blobs.seal(sink, options.expected)
        try:
            answer = self._keep(
                sealed,
                name or sealed.digest,
                kind=options.kind,
                replicate=options.replicate and forwarded is None,
                chain=chain,
                register=options.register,
                private=options.private,
                forwarded=forwarded,
            )
        except BaseException:
            if forwarded is not None:
                forwarded.abandon()  # closed now, not when collected
            raise
        key = self.membership.signing_key()
        if options.upload and key:
            # The bytes came and hashed to their name: the sender had them.
            answer["receipt"] = upload_receipt(key, options.upload, sealed.digest, sealed.size)
        return answer

    def store_blobs(self, blobs: Sequence[SentBlob], *, kind: str, private: bool) -> dict[str, Any]:
        """Store the small blobs a master sends in one request (``POST /blobs``), all made
        durable by one sync before the answer; the master registers them itself.

        A result per blob, in order: ``{"hash", "size", "deduplicated"}``, or its error
        for one whose bytes do not hash to its digest (the others are kept).
        """
        results: list[dict[str, Any]] = [{} for _ in blobs]
        uploads: list[tuple[int, PendingCopy]] = []
        for index, blob in enumerate(blobs):
            try:
                sealed = self.blobs.seal_bytes(blob.data, blob.digest)
            except HashMismatch as exc:
                results[index] = {"hash": blob.digest, **exc.to_dict()}
                continue
            upload = PendingCopy(sealed, blob.name or sealed.digest, kind, False, False, private)
            uploads.append((index, upload))
        if private and uploads:
            # Catalogued before they move into place, as ``_keep`` does for one.
            self.catalog.record_private_many(
                [(u.sealed.digest, u.name, u.sealed.size, kind) for _i, u in uploads]
            )
        pending = [upload for _index, upload in uploads]
        try:
            kept = self.commits.keep_batch(pending) if pending else []
        except BaseException:
            if private:
                digests = [u.sealed.digest for _i, u in uploads]
                self.catalog.remove([d for d in digests if not self.blobs.on_disk(d)])
            raise
        for (index, _upload), done in zip(uploads, kept, strict=True):
            stored = done.stored
            results[index] = {
                "hash": stored.digest,
                "size": stored.size,
                "deduplicated": not stored.created,
            }
        return {"node": self.node_id, "results": results}

    def _receive_raw(
        self, stream: IO[bytes], content_length: int | None, copy: StreamedCopy | None = None
    ) -> FileBlobWriter:
        writer = self.blobs.open_writer(self.max_upload_size, content_length)
        try:
            while chunk := stream.read(BODY_CHUNK):
                if copy is not None:
                    copy.send(chunk)
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer

    def _receive_multipart(self, body: FormBody) -> tuple[SealedBlob, str, dict[str, str]]:
        """The form's file part, sealed (unchecked against a hash: the caller knows which),
        its filename and the form's other fields. A form read whole is parsed in memory, by
        the same parser and under the same caps as one streamed into a temp file."""
        if isinstance(body.stream, bytes):
            form = read_file_part(
                io.BytesIO(body.stream),
                body.content_type,
                "file",
                lambda _name: MemoryBlobWriter(self.max_upload_size),
            )
            assert form.sink is not None
            return self.blobs.seal_bytes(form.sink.data()), form.filename, form.fields
        upload = read_file_part(
            body.stream,
            body.content_type,
            "file",
            lambda _name: self.blobs.open_writer(self.max_upload_size, body.length),
        )
        assert upload.sink is not None
        return self.blobs.seal(upload.sink), upload.filename, upload.fields

    def pull(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Copy a blob from another node (repair): stream, check the hash, keep, register.

        ``source`` must be a node the master lists; a ``private`` copy is read with the
        master's ``token`` and kept private.
        """
        digest = parse_digest(payload.get("hash"))
        source = self.membership.node_url(payload.get("source"), "source")
        name = clean_name(str(payload.get("name") or "")) or digest
        kind = parse_kind(payload.get("kind", "file"))
        token = payload.get(TOKEN_PARAM)
        with self.blobs.open_writer(self.max_upload_size) as writer:
            try:
                for chunk in self.peers.iter_blob(
                    source, digest, token if isinstance(token, str) else None
                ):
                    writer.write(chunk)
            except NodeUnavailable as exc:
                raise UpstreamError(exc.message, code="source_unavailable") from exc
            sealed = self.blobs.seal(writer, digest)
        private = payload.get("private") is True
        return self._keep(
            sealed, name, kind=kind, replicate=False, chain=[], register=True, private=private
        )

    def delete_blob(self, hash_param: str | None) -> dict[str, Any]:
        """Delete this node's copy (the master deleted the file, or trims an extra copy)."""
        digest = parse_digest(hash_param)
        existed = self.blobs.delete(digest)
        catalogued = self.catalog.remove([digest])
        # Told to the master whoever asked: a delete it did not ask for (by hand) must not
        # leave it sending reads here and counting a copy that is gone.
        self.losses.missing(digest, had=existed or catalogued > 0)
        if not existed:
            raise BlobNotFound(f"no blob {digest} on this node")
        return {"deleted": digest, "node": self.node_id}

    def _keep(
        self,
        sealed: SealedBlob,
        name: str,
        *,
        kind: str,
        replicate: bool,
        chain: list[str],
        register: bool,
        private: bool = False,
        forwarded: StreamedCopy | None = None,
    ) -> dict[str, Any]:
        """Store a sealed blob durably, catalogue it, register it, bring it to its copies
        (``forwarded``: the chain's next copy, sent while the blob arrived)."""
        if private:
            # Catalogued before it moves into place: a blob on disk without a row is
            # served as one a crash left uncatalogued (507 if the row cannot be written).
            try:
                self.catalog.record_private(sealed.digest, name, sealed.size, kind)
            except InsufficientStorage:
                self.blobs.drop_sealed(sealed)  # the upload's temp file
                raise
        try:
            kept = self.commits.keep(
                PendingCopy(sealed, name, kind, register, replicate and not chain, private)
            )
        except BaseException:
            if private and not self.blobs.on_disk(sealed.digest):
                self.catalog.remove([sealed.digest])  # no row for a blob that is not there
            raise
        stored, entry, registered = kept.stored, kept.entry, kept.registered
        peers = [
            p
            for p in kept.answer.get("replicate_to", [])
            if isinstance(p, dict) and isinstance(p.get("url"), str) and p.get("id") != self.node_id
        ]
        # Peers that took their copies beside ours are registered already; the master
        # names in ``replicate_to`` only those still to get one.
        copied = {str(peer["id"]) for peer in kept.copied}
        replicas = [self.node_id, *sorted(copied)]
        if forwarded is not None:
            reply = forwarded.finish()
            replicas += reply.get("replicas", []) if reply else []
        elif chain:
            reply = self._forward(chain[0], entry, name, chain[1:], sealed.data)
            replicas += reply.get("replicas", []) if reply else []
        elif replicate:
            for peer in (p for p in peers if p["id"] not in copied):
                reply = self._forward(peer["url"], entry, name, [], sealed.data)
                replicas += [peer["id"]] if reply else []
        return {
            "success": True,
            "message": "File Upload Successful",
            "hash": stored.digest,
            "name": name,
            "size": stored.size,
            "node": self.node_id,
            "kind": entry.kind,
            "deduplicated": not stored.created,
            "registered": registered,
            "replicas": replicas,
        }

    def _forward(
        self, url: str, entry: BlobEntry, name: str, chain: list[str], data: bytes | None
    ) -> dict[str, Any] | None:
        """Send our copy to a peer (``data``: its bytes, when the upload was received
        whole; else read from disk); a failed peer is left to the master's repair."""
        try:
            if data is not None:
                return self.peers.put_blob(
                    url, name, data, entry.hash, chain=chain, kind=entry.kind, private=entry.private
                )
            with self.blobs.locate(entry.hash).open("rb") as body:
                return self.peers.put_blob(
                    url, name, body, entry.hash, chain=chain, kind=entry.kind, private=entry.private
                )
        except NodeUnavailable as exc:
            log.warning("copy of %s to %s failed: %s", entry.hash, url, exc.message)
            return None

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


def node_service() -> NodeService:
    """Return the NodeService of the current app."""
    service: NodeService = current_app.extensions[EXTENSION]
    return service
