"""A node that reports a full disk is given no uploads while others have room (#17).

Three real node apps on loopback; the master, under the test client, hears their
heartbeats (sent here: the apps run no background tasks) and writes to them over HTTP.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.factory import create_app
from tests.support.apps import make_client, serve_app

GIB = 1 << 30


@pytest.fixture
def nodes(tmp_path: Path, dead_url: str) -> Iterator[dict[str, tuple[Flask, str]]]:
    with ExitStack() as stack:
        served = {}
        for node_id in ("full", "a", "b"):
            app = create_app(
                "node",
                {
                    "DATA_DIR": str(tmp_path / node_id),
                    "MASTER": dead_url,
                    "NODE_ID": node_id,
                    "BACKGROUND_TASKS": False,
                    "MIN_FREE_BYTES": 0,
                },
            )
            served[node_id] = (app, stack.enter_context(serve_app(app)))
        yield served


@pytest.fixture
def master(tmp_path: Path, nodes: dict[str, tuple[Flask, str]]) -> Iterator[FlaskClient]:
    app = create_app("master", {"DATA_DIR": str(tmp_path / "master"), "BACKGROUND_TASKS": False})
    client = make_client(app)
    for node_id, (_app, url) in nodes.items():
        free = 0 if node_id == "full" else 50 * GIB
        beat = {"node": node_id, "url": url, "capacity_bytes": 100 * GIB, "free_bytes": free}
        assert client.post("/nodes/heartbeat", json=beat).status_code == 200
    yield client
    app.extensions["mdbx.master"].index.close()


def test_a_node_reporting_free_bytes_0_is_not_given_uploads(master, nodes):
    for i in range(20):
        form = {"file": (io.BytesIO(os.urandom(100 + i)), f"f{i}.bin")}
        stored = master.post("/upload", data=form, content_type="multipart/form-data")
        assert stored.status_code == 200, stored.json
        assert sorted(stored.json["replicas"]) == ["a", "b"]
    full_dir = Path(nodes["full"][0].config["DATA_DIR"]) / "blobs"
    assert [p for p in full_dir.rglob("*") if p.is_file()] == []
    for _ in range(40):
        assigned = master.post("/assign").json
        assert {n["id"] for n in assigned["nodes"]} == {"a", "b"}
        assert assigned["upload_url"] != f"{nodes['full'][1]}/upload"
