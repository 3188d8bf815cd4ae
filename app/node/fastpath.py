"""The node's hot read path: a plain ``GET /retrieve?hash=H`` served below Flask.

Profiled under wrk (4 KiB blobs, one gevent worker), Flask's request context, routing and
hooks took 42% of the worker's time and the file lookup stat'ed the blob before opening
it. A plain read needs none of that: open the blob, answer its fixed headers, hand the
file to the server's sendfile. Everything else — a conditional or ranged request, a hash
that is malformed or not stored, a token that does not check out — goes to the Flask
view, which answers it (and every error) exactly as before.
"""

from __future__ import annotations

import contextlib
import io
import mimetypes
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from app.gevent_worker import fair_turn
from app.http import CONDITIONAL_HEADERS, IMMUTABLE, inline_disposition
from app.security import READ, TOKEN_PARAM, check_blob_token
from app.storage import DIGEST_RE

if TYPE_CHECKING:  # the service builds this middleware: no import cycle at run time
    from app.node.service import NodeService

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
SENDFILE_BLOCK = 1 << 20


class _BlobFile(io.FileIO):
    """The response body: the blob's file, which also resets the socket's timeout when
    the server closes it after sending."""

    sock: Any = None

    def close(self) -> None:
        super().close()
        if self.sock is not None:
            with contextlib.suppress(OSError):  # the client went away; nothing to reset
                self.sock.settimeout(None)
            self.sock = None


class FastRetrieve:
    """WSGI middleware in front of the node's Flask app."""

    def __init__(
        self, app: WSGIApp, service: NodeService, *, secret: str, write_timeout: float
    ) -> None:
        self.app = app
        self.service = service
        self.secret = secret
        self.write_timeout = write_timeout
        self.turn = fair_turn()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if (
            environ.get("PATH_INFO") != "/retrieve"
            or environ.get("REQUEST_METHOD") != "GET"
            or any(key in environ for key in CONDITIONAL_HEADERS)
        ):
            return self.app(environ, start_response)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        digest = (query.get("hash") or [""])[0]
        if not DIGEST_RE.fullmatch(digest) or not self._allowed(query, digest):
            return self.app(environ, start_response)
        if self.turn is not None:
            self.turn()
        try:
            file = _BlobFile(self.service.blobs.path_for(digest))
        except OSError:
            return self.app(environ, start_response)
        size = os.fstat(file.fileno()).st_size
        name = self.service.catalog.name_of(digest) or digest
        mimetype = mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"
        sock = environ.get("gunicorn.socket")
        if sock is not None and self.write_timeout:
            sock.settimeout(self.write_timeout)
            file.sock = sock
        start_response(
            "200 OK",
            [
                ("Content-Type", mimetype),
                ("Content-Length", str(size)),
                ("ETag", f'"{digest}"'),
                ("Cache-Control", IMMUTABLE),
                ("Accept-Ranges", "bytes"),
                ("Content-Disposition", inline_disposition(name)),
            ],
        )
        wrapper = environ.get("wsgi.file_wrapper")
        if wrapper is not None:
            return wrapper(file, SENDFILE_BLOCK)
        return _chunks(file)

    def _allowed(self, query: dict[str, list[str]], digest: str) -> bool:
        """In secured mode, a valid read token (else Flask decides, and refuses)."""
        if not self.secret:
            return True
        token = (query.get(TOKEN_PARAM) or [""])[0]
        params = {key: values[0] for key, values in query.items()}
        return bool(token) and check_blob_token(self.secret, token, READ, digest, params)


def _chunks(file: _BlobFile) -> Iterator[bytes]:
    """The body for a server without wsgi.file_wrapper (the Flask test client)."""
    with file:
        while chunk := file.read(SENDFILE_BLOCK):
            yield chunk
