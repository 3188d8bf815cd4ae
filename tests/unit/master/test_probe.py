"""The master's probe of its nodes, against stand-ins that answer, hang, or are gone."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cluster.node_client import NodeClient
from app.master.placement import live_nodes
from app.master.probe import NodeProber
from app.metadata.cluster import ClusterStore
from app.metadata.engine import make_engine, sqlite_url
from tests.support.stub_http import QuietHandler, stub_server


class Health(QuietHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def answering() -> Iterator[str]:
    with stub_server(Health) as url:
        yield url


@pytest.fixture
def hanging() -> Iterator[str]:
    """A port whose kernel completes connections that nobody ever answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ClusterStore]:
    engine = make_engine(sqlite_url(tmp_path / "meta.db"))
    yield ClusterStore(engine)
    engine.dispose()


def prober(cluster: ClusterStore, tmp_path: Path) -> NodeProber:
    return NodeProber(
        cluster,
        NodeClient(),
        node_timeout=15,
        interval=1,
        timeout=0.3,
        lock_path=tmp_path / "probe.lock",
    )


def states(cluster: ClusterStore) -> dict[str, str]:
    return {node.id: node.state(time.time(), 15) for node in cluster.list_nodes()}


def test_a_node_that_hangs_is_marked_and_cleared_once_it_answers(
    cluster, tmp_path, answering, hanging, dead_url
):
    cluster.heartbeat("ok", answering)
    cluster.heartbeat("hung", hanging)
    cluster.heartbeat("gone", dead_url)
    probe = prober(cluster, tmp_path)
    assert probe.probe_once() == {"ok": True, "hung": False, "gone": None}
    # Refused at once: its heartbeats will tell it is down; calls to it fail fast.
    assert states(cluster) == {"gone": "up", "hung": "unresponsive", "ok": "up"}
    served = {n.id for n in live_nodes(cluster.list_nodes(), time.time(), 15)}
    assert served == {"ok", "gone"}  # placement and reads leave the hung one out
    cluster.heartbeat("hung", answering)  # it answers again (here: at another address)
    assert probe.probe_once()["hung"] is True
    assert states(cluster)["hung"] == "up"


def test_nodes_down_by_their_heartbeats_are_not_probed(cluster, tmp_path, hanging):
    cluster.heartbeat("old", hanging)
    probe = prober(cluster, tmp_path)
    probe.node_timeout = -1  # every beat is too old
    assert probe.probe_once() == {}
