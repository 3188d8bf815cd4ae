"""The node's hot read path: a plain ``GET /retrieve?hash=H`` answered on the connection.

Profiled under wrk (4 KiB blobs), gunicorn's parser, the WSGI layer and Flask took most of
a node worker's time per request. A plain read needs none of them: open the blob, answer
its fixed headers and bytes (``app.fast_http`` does the HTTP). Everything else — a
conditional or ranged request, a hash that is malformed or not stored, a token that does
not check out — is declined here and answered by the Flask view (and its errors) exactly
as before.
"""

from __future__ import annotations

import mimetypes
import os
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from app.cache import LRUCache
from app.fast_http import FastRequest, FastResponse
from app.http import CONDITIONAL_HEADERS, IMMUTABLE, inline_disposition
from app.security import READ, TOKEN_PARAM, check_blob_token
from app.storage import DIGEST_RE

if TYPE_CHECKING:  # the service builds this handler: no import cycle at run time
    from app.node.service import NodeService

HEADER_CACHE_SIZE = 16_384
# Requests carrying these go to the Flask view (304, 206, 416 and If-Range live there).
CONDITIONAL_FIELDS = tuple(
    key.removeprefix("HTTP_").lower().replace("_", "-").encode() for key in CONDITIONAL_HEADERS
)


class FastRetrieve:
    """The node's ``FastHandler``."""

    def __init__(self, service: NodeService, *, secret: str) -> None:
        self.service = service
        self.secret = secret
        self._header_cache: LRUCache[str, bytes] = LRUCache(HEADER_CACHE_SIZE)

    def __call__(self, request: FastRequest) -> FastResponse | None:
        path, _, raw_query = request.target.partition(b"?")
        if (
            path != b"/retrieve"
            or request.method != b"GET"
            or any(field in request.headers for field in CONDITIONAL_FIELDS)
        ):
            return None
        query = parse_qs(raw_query.decode("latin-1"))
        digest = (query.get("hash") or [""])[0]
        if not DIGEST_RE.fullmatch(digest) or not self._allowed(query, digest):
            return None
        try:
            fd = os.open(self.service.blobs.file_name(digest), os.O_RDONLY)
        except OSError:
            return None
        size = os.fstat(fd).st_size
        return FastResponse(self._headers(digest) % size, fd, size)

    def _headers(self, digest: str) -> bytes:
        """The blob's header lines, with ``%d`` for its size: a blob keeps its first name,
        so they are worked out once and kept (for the most recent blobs)."""
        headers = self._header_cache.get(digest)
        if headers is None:
            name = self.service.catalog.name_of(digest) or digest
            mimetype = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
            headers = (
                f"Content-Type: {mimetype}\r\n"
                "Content-Length: %d\r\n"
                f'ETag: "{digest}"\r\n'
                f"Cache-Control: {IMMUTABLE}\r\n"
                "Accept-Ranges: bytes\r\n"
                f"Content-Disposition: {inline_disposition(name).replace('%', '%%')}\r\n"
            ).encode("latin-1")
            self._header_cache.put(digest, headers)
        return headers

    def _allowed(self, query: dict[str, list[str]], digest: str) -> bool:
        """In secured mode, a valid read token (else Flask decides, and refuses)."""
        if not self.secret:
            return True
        token = (query.get(TOKEN_PARAM) or [""])[0]
        params = {key: values[0] for key, values in query.items()}
        return bool(token) and check_blob_token(self.secret, token, READ, digest, params)
