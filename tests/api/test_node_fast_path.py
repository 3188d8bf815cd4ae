"""Which requests the node's fast path answers, and that its answer is the Flask view's."""

from __future__ import annotations

import hashlib
import os

import pytest

from app.factory import create_app
from app.fast_http import FAST_PATH, FastRequest
from app.security import READ, sign_url
from tests.support.apps import make_client

BODY = b"fast bytes\n" * 100
DIGEST = hashlib.sha256(BODY).hexdigest()


def stored(app) -> None:
    make_client(app).put("/upload?name=notes.txt&register=0", data=BODY)


def ask(app, target: str, method: bytes = b"GET", **headers: str):
    handler = app.extensions[FAST_PATH].handler
    fields = {name.lower().encode(): value.encode() for name, value in headers.items()}
    response = handler(FastRequest(method, target.encode(), fields))
    if response is not None:
        os.close(response.fd)
    return response


def test_a_plain_get_of_a_stored_blob_is_answered_with_the_views_headers(node_app):
    stored(node_app)
    response = ask(node_app, f"/retrieve?hash={DIGEST}")
    assert response is not None and response.size == len(BODY)
    fast = dict(line.split(": ", 1) for line in response.headers.decode().split("\r\n") if line)
    view = make_client(node_app).get(f"/retrieve?hash={DIGEST}")
    assert view.data == BODY
    for name in (
        "Content-Type",
        "Content-Length",
        "ETag",
        "Cache-Control",
        "Accept-Ranges",
        "Content-Disposition",
    ):
        assert fast[name] == view.headers[name], name


@pytest.mark.parametrize(
    "target, method, headers",
    [
        (f"/retrieve?hash={DIGEST}", b"HEAD", {}),
        (f"/retrieve?hash={DIGEST}", b"POST", {}),
        (f"/retrieve?hash={DIGEST}", b"GET", {"Range": "bytes=0-1"}),
        (f"/retrieve?hash={DIGEST}", b"GET", {"If-None-Match": f'"{DIGEST}"'}),
        (f"/retrieve?hash={DIGEST}", b"GET", {"If-Modified-Since": "Tue, 1 Jan 2030 00:00:00 GMT"}),
        (f"/retrieve?hash={DIGEST}", b"GET", {"If-Range": f'"{DIGEST}"'}),
        (f"/retrieve?hash={DIGEST.upper()}", b"GET", {}),
        ("/retrieve?hash=../../etc/passwd", b"GET", {}),
        (f"/retrieve?hash={'0' * 64}", b"GET", {}),  # not stored: the view answers 404
        (f"/retrieve/?hash={DIGEST}", b"GET", {}),
        ("/health", b"GET", {}),
    ],
)
def test_everything_else_is_left_to_the_flask_view(node_app, target, method, headers):
    stored(node_app)
    assert ask(node_app, target, method, **headers) is None


def test_in_secured_mode_only_a_valid_read_token_is_answered(tmp_path, dead_url):
    secret = "s" * 32
    app = create_app(
        "node",
        {
            "DATA_DIR": str(tmp_path / "node"),
            "MASTER": dead_url,
            "BACKGROUND_TASKS": False,
            "MIN_FREE_BYTES": 0,
            "CLUSTER_SECRET": secret,
        },
    )
    make_client(app).put(
        "/upload?name=notes.txt&register=0", data=BODY, headers={"X-Mdbx-Cluster-Secret": secret}
    )
    plain = f"/retrieve?hash={DIGEST}"
    assert ask(app, plain) is None  # the view refuses it, with its error
    assert ask(app, sign_url(plain, "x" * 32, READ, DIGEST, 60)) is None  # wrong key
    assert ask(app, sign_url(plain, secret, READ, DIGEST, -1)) is None  # expired
    assert ask(app, sign_url(plain, secret, READ, DIGEST, 60)) is not None
