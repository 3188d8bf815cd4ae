"""Flask test clients that behave like a WSGI server towards the app."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

# What every blob answer carries, whichever path (fast loop or Flask view) sent it.
BLOB_HEADERS = (
    "Content-Type",
    "Content-Length",
    "ETag",
    "Cache-Control",
    "Accept-Ranges",
    "Content-Disposition",
)


class BufferedClient(FlaskClient):
    """A test client that closes every response, as a WSGI server does after sending it."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def make_client(app: Flask) -> FlaskClient:
    app.test_client_class = BufferedClient
    return app.test_client()
