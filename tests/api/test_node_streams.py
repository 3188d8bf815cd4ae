"""A node's stream to the master (#20): opening it says the node is up; a break with the
node not answering marks it down at once, for /nodes, placement and redirects; a break
while it answers marks nothing; a beat a moment later does not revive a dead node."""

from __future__ import annotations

import time

import pytest

from app.master.service import STREAMS
from app.metadata.cluster import STALE_BEAT
from tests.support.apps import make_client, serve_app


@pytest.fixture
def master(master_app):
    return make_client(master_app)


def states(master) -> dict[str, str]:
    return {n["id"]: n["state"] for n in master.get("/nodes").json}


def open_stream(master, node: str, url: str):
    reply = master.get(f"/nodes/{node}/stream", query_string={"url": url})
    assert reply.status_code == 200
    # No socket under the test client: one keep-alive byte, then the stream ends.
    assert reply.data == b"\n"
    return reply


def beat(master, node: str, url: str) -> None:
    reply = master.post("/nodes/heartbeat", json={"node": node, "url": url})
    assert reply.status_code == 200, reply.json


def test_a_stream_that_breaks_on_a_dead_node_marks_it_down_at_once(master, master_app, dead_url):
    open_stream(master, "7001", dead_url)
    assert states(master) == {"7001": "up"}
    streams = master_app.extensions[STREAMS]
    assert streams.confirm_down("7001", dead_url, time.time()) is True
    assert states(master) == {"7001": "down"}
    # Not in placement, nor a redirect's target, though its beat is recent.
    assert master.post("/assign").status_code == 503
    # A beat sent before it died, arriving now, does not bring it back...
    beat(master, "7001", dead_url)
    assert states(master) == {"7001": "down"}
    # ...its stream reopening does (a restart), as does a beat once STALE_BEAT passed.
    open_stream(master, "7001", dead_url)
    assert states(master) == {"7001": "up"}
    streams.cluster.mark_down("7001", time.time() - STALE_BEAT - 1)
    assert states(master) == {"7001": "down"}
    beat(master, "7001", dead_url)
    assert states(master) == {"7001": "up"}


def test_a_stream_that_breaks_while_the_node_answers_marks_nothing(master, master_app):
    # The master's own /health stands in for a node that answers, on a real socket.
    with serve_app(master_app) as url:
        open_stream(master, "7002", url)
        assert master_app.extensions[STREAMS].confirm_down("7002", url, time.time()) is False
    assert states(master) == {"7002": "up"}


def test_a_stream_must_name_a_node_and_its_url(master):
    reply = master.get("/nodes/7003/stream")
    assert reply.status_code == 400 and reply.json["error"]["code"] == "invalid_field"
    assert master.get("/nodes").json == []
