"""Flask test clients that behave like a WSGI server towards the app."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import WSGIRequestHandler, make_server

from app.factory import create_app

# What every blob answer carries, whichever path (fast loop or Flask view) sent it.
BLOB_HEADERS = (
    "Content-Type",
    "Content-Length",
    "ETag",
    "Cache-Control",
    "Accept-Ranges",
    "Content-Disposition",
)

# How the tests' masters hash passwords: pbkdf2 with few rounds, not scrypt, which was half
# the CPU of the tests that make accounts (app.config PASSWORD_HASH; the rules of the hash
# itself are unit-tested with both).
TEST_PASSWORD_HASH = "pbkdf2:sha256:1000"


class BufferedClient(FlaskClient):
    """A test client that closes every response, as a WSGI server does after sending it."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def make_client(app: Flask) -> FlaskClient:
    app.test_client_class = BufferedClient
    return app.test_client()


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # no access log in test output
        pass


@contextmanager
def serve_app(app: Flask, port: int = 0) -> Iterator[str]:
    """Serve ``app`` over real HTTP on loopback (werkzeug) while the block runs; yield its
    base URL: a node that a master app under the test client can call. ``port``: the
    one it was told it has (its PUBLIC_URL), else any free one."""
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def lone_node_app(data_dir: Path, master_url: str, node_id: str = "n1", **overrides: Any) -> Flask:
    """A node app of its own: its master ``master_url`` (often unreachable, so copies stay
    local), no background tasks, no free-space floor."""
    settings: dict[str, Any] = {
        "DATA_DIR": str(data_dir),
        "MASTER": master_url,
        "NODE_ID": node_id,
        "BACKGROUND_TASKS": False,
        "MIN_FREE_BYTES": 0,
    }
    return create_app("node", {**settings, **overrides})
