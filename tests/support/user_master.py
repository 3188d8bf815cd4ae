"""A master app under the Flask test client with one real node behind it (served over
loopback by werkzeug), one copy per block, and a logged-in user: per-user API tests that
need real content (PUT /api/files, then reads)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app.config import MIN_BLOCK_SIZE
from app.factory import create_app
from app.node.service import EXTENSION as NODE
from tests.support.apps import lone_node_app, make_client, serve_app

NODE_ID = "n1"


@contextmanager
def one_node_master(
    node: Flask, node_url: str, data_dir: Path, **overrides: Any
) -> Iterator[tuple[Flask, FlaskClient]]:
    """Yield a master of one copy per blob and small blocks, with ``node`` (served at
    ``node_url``) as its one node, and its test client."""
    app = create_app(
        "master",
        {
            "DATA_DIR": str(data_dir),
            "BACKGROUND_TASKS": False,
            "REPLICATION": 1,
            "BLOCK_SIZE": MIN_BLOCK_SIZE,
            **overrides,
        },
    )
    client = make_client(app)
    beat = {"node": NODE_ID, "url": node_url, "capacity_bytes": 1 << 40, "free_bytes": 1 << 40}
    answer = client.post("/nodes/heartbeat", json=beat)
    assert answer.status_code == 200, answer.json
    # What the node's own heartbeat would bring back: the key of the read URLs that
    # the master signs for private content.
    node.extensions[NODE].membership.learn(answer.json)
    try:
        yield app, client
    finally:
        app.extensions["mdbx.master"].index.close()


@contextmanager
def user_master(
    tmp_path: Path, dead_url: str, **overrides: Any
) -> Iterator[tuple[Flask, FlaskClient]]:
    """Yield the master app and a client that sends alice's bearer token."""
    node = lone_node_app(tmp_path / "node", dead_url, NODE_ID)
    with (
        serve_app(node) as node_url,
        one_node_master(node, node_url, tmp_path / "master", **overrides) as (app, client),
    ):
        for name in ("alice", "bob"):
            added = client.post(
                "/api/admin/users", json={"username": name, "password": f"pw-{name}"}
            )
            assert added.status_code == 200, added.json
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token_of(client, 'alice')}"
        yield app, client


def token_of(client: FlaskClient, name: str) -> str:
    reply = client.post("/api/login", json={"username": name, "password": f"pw-{name}"})
    assert reply.status_code == 200, reply.json
    token: str = reply.json["token"]
    return token


def put_file(client: FlaskClient, path: str, data: bytes, **headers: str) -> dict[str, Any]:
    reply = client.put(f"/api/files{path}", data=data, headers=headers)
    assert reply.status_code == 200, reply.json
    body: dict[str, Any] = reply.json
    return body


def error(reply: Any) -> tuple[int, str]:
    return reply.status_code, reply.json["error"]["code"]
