"""A node whose catalogue the disk has no room for (#17): the upload's bytes are durable,
registered and readable, so it answers success; the catalogue catches up afterwards.

The catalogue is the node's real SQLite database, refusing to grow as SQLite refuses on
a full disk (tests/support/full_disk.py); the master is a real master app served over
HTTP, so that the registration is the one a node makes.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from app.factory import create_app
from tests.support.apps import make_client
from tests.support.full_disk import LONG_NAME, create_with_small_pages, no_room


@pytest.fixture
def master_url(master_app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, master_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_a_full_catalogue_does_not_fail_a_durable_upload(tmp_path, master_url, master_client):
    create_with_small_pages(tmp_path / "node" / "catalog.db")
    app = create_app(
        "node",
        {
            "DATA_DIR": str(tmp_path / "node"),
            "MASTER": master_url,
            "BACKGROUND_TASKS": False,
            "MIN_FREE_BYTES": 0,
        },
    )
    node = make_client(app)
    catalog = app.extensions["mdbx.node"].catalog
    body = b"kept despite a full catalogue"
    digest = hashlib.sha256(body).hexdigest()
    with no_room(catalog.engine):
        reply = node.put("/upload", data=body, query_string={"name": LONG_NAME})
        assert reply.status_code == 200, reply.json  # a 500 before
        assert reply.json["hash"] == digest and reply.json["registered"] is True
        assert catalog.get(digest) is None  # the row could not be written
        # Stored, registered, readable: what the answer says is true.
        assert node.get("/retrieve", query_string={"hash": digest}).data == body
        assert master_client.get("/get", query_string={"hash": digest}).json["replicas"] == ["8001"]
    # With room again, the next upload writes the row that waited, name and state kept.
    assert node.put("/upload", data=b"next", query_string={"name": "n.txt"}).status_code == 200
    entry = catalog.get(digest)
    assert entry is not None and (entry.name, entry.registered) == (LONG_NAME, True)
    assert catalog.stats().blobs == 2
