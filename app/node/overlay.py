"""The node's overlay: hot requests answered on the connection, below gunicorn and Flask.

Profiled under wrk, gunicorn's parser, the WSGI layer and Flask took most of a node
worker's time per request. A plain ``GET /retrieve?hash=H`` needs none of them: open the
blob, answer its fixed headers and bytes; nor does ``GET /file?hash=H``, a file whose
blocks are all here, sent one after another. A raw ``PUT /upload`` of a small body needs
only the node service, as the Flask view calls it, and its errors rendered the same way;
so does the reference's multipart ``POST /upload`` of a small form, parsed in memory by
the view's own parser (``read_file_part``); and so does ``POST /blobs``, a peer's batch of
copies of the small uploads it took (``app.node.commits``), read by the view's own
``read_blob_batch``. Each asks ``NodeAccess.authorize`` first, as
the Flask hook does. Everything else — a conditional or ranged GET, a read not allowed,
a hash that is malformed or not stored, a body over the limit or chunked — is declined
and answered by the Flask views exactly as before.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

from app.errors import AppError
from app.http.blob_headers import CONDITIONAL_FIELDS, blob_headers, mimetype_of
from app.node.batches import read_blob_batch
from app.node.uploads import FormBody, RawBody, UploadBody, parse_kind, parse_upload_options
from app.primitives.lru import LRUCache
from app.security import CLUSTER_FIELD
from app.server.connection import FastPath, FastRequest, FastResponse
from app.server.overlay import Overlay, OverlayRoute, header_text, json_answer, query_args
from app.storage.digests import DIGEST_RE

if TYPE_CHECKING:  # the wiring builds the overlay: no import cycle at run time
    from app.node.service import NodeService

# About 400 bytes each: the hot blobs' headers, not every blob's.
HEADER_CACHE_SIZE = 4096
# Uploads (raw or forms) up to this size are read here; larger ones stream through Flask.
FAST_UPLOAD_LIMIT = 1 << 20


class NodeRoutes:
    """What the node's overlay routes share: the service, and the blobs' headers."""

    def __init__(self, service: NodeService) -> None:
        self.service = service
        self._header_cache: LRUCache[str, bytes] = LRUCache(HEADER_CACHE_SIZE)

    def blob_lines(self, digest: str) -> bytes:
        """The blob's header lines but Content-Length: a blob keeps its first name, so
        they are worked out once and kept (for the most recent blobs)."""
        lines = self._header_cache.get(digest)
        if lines is None:
            name = self.service.catalog.name_of(digest) or digest
            lines = header_lines(blob_headers(digest, name, mimetype=mimetype_of(name)))
            self._header_cache.put(digest, lines)
        return lines

    def plain_read(self, request: FastRequest, raw_query: bytes, endpoint: str) -> str | None:
        """The hash of an unconditional GET that ``authorize`` lets through, else None
        (the Flask view answers, and refuses what is not allowed)."""
        if any(field in request.headers for field in CONDITIONAL_FIELDS):
            return None
        args = query_args(raw_query)
        if args is None:
            return None
        digest = args.get("hash", "")
        if not DIGEST_RE.fullmatch(digest):
            return None
        try:
            presented = header_text(request, CLUSTER_FIELD)
            self.service.access.authorize(endpoint, presented=presented, args=args, digest=digest)
        except AppError:
            return None
        return digest


def retrieve(node: NodeRoutes, request: FastRequest, raw_query: bytes) -> FastResponse | None:
    """A stored blob, whole (sent from the file: sendfile past INLINE_BODY)."""
    digest = node.plain_read(request, raw_query, "node.retrieve")
    if digest is None:
        return None
    try:
        fd = node.service.reads.open_checked(digest)
    except (AppError, OSError):
        return None  # Flask's view answers the 404
    size = os.fstat(fd).st_size
    return FastResponse(node.blob_lines(digest) + b"Content-Length: %d\r\n" % size, fd, size)


def retrieve_file(node: NodeRoutes, request: FastRequest, raw_query: bytes) -> FastResponse | None:
    """A file whose every block is here, sent block after block by sendfile."""
    digest = node.plain_read(request, raw_query, "node.retrieve_file")
    if digest is None:
        return None
    try:
        file = node.service.reads.open_file(digest)
    except AppError:
        return None  # Flask's view answers the error (no block here, master down)
    headers = blob_headers(digest, file.name, mimetype=file.mimetype, length=file.size)
    return FastResponse(header_lines(headers), size=file.size, files=file.blocks)


def upload(node: NodeRoutes, request: FastRequest, raw_query: bytes) -> FastResponse | None:
    """What the Flask view of ``PUT /upload`` does, with the same answers and errors."""
    return stored_upload(node, request, raw_query, RawBody(request.body, len(request.body)))


def upload_form(node: NodeRoutes, request: FastRequest, raw_query: bytes) -> FastResponse | None:
    """What the Flask view of ``POST /upload`` (the reference's multipart form) does, the
    form read whole: parsed by the view's parser, under its caps, with its errors."""
    content_type = header_text(request, b"content-type")
    body = FormBody(request.body, content_type, len(request.body))
    return stored_upload(node, request, raw_query, body)


def stored_upload(
    node: NodeRoutes, request: FastRequest, raw_query: bytes, body: UploadBody
) -> FastResponse | None:
    """An upload stored as the view stores it, or None for a query Flask refuses."""
    args = query_args(raw_query)
    if args is None:
        return None  # Flask refuses a query that is not UTF-8

    def store() -> dict[str, Any]:
        # In the order of the hook and the view: credentials, the query, the body.
        presented = header_text(request, CLUSTER_FIELD)
        node.service.access.authorize("node.upload", presented=presented, args=args)
        options = parse_upload_options(args)
        return node.service.store_upload(body, options)

    return json_answer(store, f"{request.method.decode('latin-1')} /upload")


def store_blobs(node: NodeRoutes, request: FastRequest, raw_query: bytes) -> FastResponse | None:
    """What the Flask view of ``POST /blobs`` does, the batch read whole."""
    args = query_args(raw_query)
    if args is None:
        return None

    def store() -> dict[str, Any]:
        presented = header_text(request, CLUSTER_FIELD)
        node.service.access.authorize("node.store_blobs", presented=presented, args=args)
        blobs = read_blob_batch(
            io.BytesIO(request.body),
            header_text(request, b"content-type"),
            len(request.body),
            max_blob=node.service.max_upload_size,
        )
        kind = parse_kind(args.get("kind", "file"))
        private = args.get("private", "0") in ("1", "true")
        return node.service.store_blobs(blobs, kind=kind, private=private)

    return json_answer(store, "POST /blobs")


OVERLAY: tuple[OverlayRoute[NodeRoutes], ...] = (
    OverlayRoute("GET", "/retrieve", "node.retrieve", retrieve),
    OverlayRoute("GET", "/file", "node.retrieve_file", retrieve_file),
    OverlayRoute("PUT", "/upload", "node.upload", upload, reads_body=True),
    OverlayRoute("POST", "/upload", "node.upload", upload_form, reads_body=True),
    OverlayRoute("POST", "/blobs", "node.store_blobs", store_blobs, reads_body=True),
)


def node_fast_path(service: NodeService, *, read_timeout: float, write_timeout: float) -> FastPath:
    """The node's overlay, for its worker's connection loop."""
    return Overlay(OVERLAY, NodeRoutes(service)).fast_path(
        body_limit=FAST_UPLOAD_LIMIT, read_timeout=read_timeout, write_timeout=write_timeout
    )


def header_lines(headers: list[tuple[str, str]]) -> bytes:
    """Headers as the lines of a response head."""
    return "".join(f"{name}: {value}\r\n" for name, value in headers).encode("latin-1")
