"""The node's hot paths, answered on the connection (``app.server.connection`` does the HTTP).

Profiled under wrk, gunicorn's parser, the WSGI layer and Flask took most of a node
worker's time per request. A plain ``GET /retrieve?hash=H`` needs none of them: open the
blob, answer its fixed headers and bytes; nor does ``GET /file?hash=H``, a file whose
blocks are all here, sent one after another. A raw ``PUT /upload`` of a small body needs
only the node service, as the Flask view calls it, and its errors rendered the same way.
Everything else — a conditional or ranged GET, a hash that is malformed or not stored, a
multipart POST, a body over the limit — is declined and answered by the Flask views
exactly as before.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from app.errors import AppError
from app.http.blob_headers import CONDITIONAL_FIELDS, blob_headers, mimetype_of
from app.primitives.lru import LRUCache
from app.security import CLUSTER_FIELD, TOKEN_PARAM, WRITE, authorize_blob_request
from app.server.connection import FastRequest, FastResponse, json_answer, query_args
from app.storage import DIGEST_RE

if TYPE_CHECKING:  # the service builds these handlers: no import cycle at run time
    from app.node.service import NodeService

# About 400 bytes each: the hot blobs' headers, not every blob's.
HEADER_CACHE_SIZE = 4096
# Raw uploads up to this size are read here; larger ones stream through Flask.
FAST_UPLOAD_LIMIT = 1 << 20


class NodeFastHandler:
    """Answers what the node's fast path takes (see the module's docstring)."""

    def __init__(self, service: NodeService, *, secret: str) -> None:
        self.service = service
        self.secret = secret
        self._header_cache: LRUCache[str, bytes] = LRUCache(HEADER_CACHE_SIZE)

    def wants_body(self, request: FastRequest) -> bool:
        return request.method == b"PUT" and request.target.partition(b"?")[0] == b"/upload"

    def __call__(self, request: FastRequest) -> FastResponse | None:
        path, _, raw_query = request.target.partition(b"?")
        if request.method == b"GET" and path == b"/retrieve":
            return self._retrieve(request, raw_query)
        if request.method == b"GET" and path == b"/file":
            return self._retrieve_file(request, raw_query)
        if request.method == b"PUT" and path == b"/upload":
            return self._upload(request, raw_query)
        return None

    def _retrieve(self, request: FastRequest, raw_query: bytes) -> FastResponse | None:
        digest = self._plain_read(request, raw_query, blob=True)
        if digest is None:
            return None
        try:
            fd = os.open(self.service.blobs.file_name(digest), os.O_RDONLY)
        except OSError:
            return None
        size = os.fstat(fd).st_size
        return FastResponse(self._blob_lines(digest) + b"Content-Length: %d\r\n" % size, fd, size)

    def _retrieve_file(self, request: FastRequest, raw_query: bytes) -> FastResponse | None:
        """A file whose every block is here, sent block after block by sendfile."""
        digest = self._plain_read(request, raw_query, blob=False)
        if digest is None:
            return None
        try:
            file = self.service.open_file(digest, {})  # allowed already
        except AppError:
            return None  # Flask's view answers the error (no block here, master down)
        headers = blob_headers(digest, file.name, mimetype=file.mimetype, length=file.size)
        return FastResponse(header_lines(headers), size=file.size, files=file.blocks)

    def _upload(self, request: FastRequest, raw_query: bytes) -> FastResponse | None:
        """What the Flask view of ``PUT /upload`` does, with the same answers and errors."""
        args = query_args(raw_query)
        if args is None:
            return None  # Flask refuses a query that is not UTF-8

        def store() -> dict[str, Any]:
            if self.secret:
                presented = request.headers.get(CLUSTER_FIELD)
                authorize_blob_request(
                    self.secret,
                    presented=presented.decode("latin-1") if presented is not None else None,
                    token=args.get(TOKEN_PARAM),
                    op=WRITE,
                    digest=args.get("hash"),
                    params=args,
                )
            return self.service.store_upload(
                request.body,
                request.headers.get(b"content-type", b"").decode("latin-1") or None,
                len(request.body),
                args,
                raw=True,
            )

        return json_answer(store, "PUT /upload")

    def _blob_lines(self, digest: str) -> bytes:
        """The blob's header lines but Content-Length: a blob keeps its first name, so
        they are worked out once and kept (for the most recent blobs)."""
        lines = self._header_cache.get(digest)
        if lines is None:
            name = self.service.catalog.name_of(digest) or digest
            lines = header_lines(blob_headers(digest, name, mimetype=mimetype_of(name)))
            self._header_cache.put(digest, lines)
        return lines

    def _plain_read(self, request: FastRequest, raw_query: bytes, *, blob: bool) -> str | None:
        """The hash of an unconditional GET allowed to read it, else None (Flask answers,
        and refuses what is not allowed: see ``app.node.access``)."""
        if any(field in request.headers for field in CONDITIONAL_FIELDS):
            return None
        args = query_args(raw_query)
        if args is None:
            return None
        digest = args.get("hash", "")
        if not DIGEST_RE.fullmatch(digest) or not self.service.access.is_plain(
            digest, args, blob=blob
        ):
            return None
        return digest


def header_lines(headers: list[tuple[str, str]]) -> bytes:
    """Headers as the lines of a response head."""
    return "".join(f"{name}: {value}\r\n" for name, value in headers).encode("latin-1")
