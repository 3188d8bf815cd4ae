"""The reference's small multipart uploads to a node, answered on its overlay and copied to
the peer over kept-alive links (#22), under ``kill -9``: of the peer, then of the node
itself, then of both at once. Every acknowledged upload reads back byte-identical; after
the peer's restart the node's copies reach it again (its dead links are replaced, not
reused); copies sent to the peer while the node syncs its own (one ``POST /blobs`` per
batch, registered by the node) are on both disks once acknowledged."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter

import requests
from prometheus_client.parser import text_string_to_metric_families

from localcluster.launcher import Role, wait_until
from tests.support.faults import FAST

TIMEOUT = 15
SENDERS = 6
PER_SENDER = 400  # a bound: the senders stop long before it
SIZE = 4096


class Senders:
    """Threads posting distinct small forms to one node until stopped (or ``PER_SENDER``)."""

    def __init__(self, node: Role, tag: str) -> None:
        self.node = node
        self.tag = tag
        self.acknowledged: dict[str, tuple[bytes, list[str]]] = {}
        self.outcomes: Counter[str] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(SENDERS)
        ]

    def start(self) -> Senders:
        for thread in self._threads:
            thread.start()
        return self

    def _run(self, index: int) -> None:
        for i in range(PER_SENDER):
            if self._stop.is_set():
                return
            head = f"{self.tag}-{index}-{i}-".encode()
            payload = head + b"x" * (SIZE - len(head))
            try:
                answer = requests.post(
                    f"{self.node.url}/upload",
                    files={"file": (f"{self.tag}-{index}-{i}.bin", payload)},
                    timeout=TIMEOUT,
                )
            except requests.RequestException:
                with self._lock:
                    self.outcomes["broken"] += 1  # in flight: stored or not
                time.sleep(0.05)
                continue
            with self._lock:
                if answer.status_code == 200:
                    body = answer.json()
                    assert body["hash"] == hashlib.sha256(payload).hexdigest()
                    self.acknowledged[body["hash"]] = (payload, body["replicas"])
                    self.outcomes["ok"] += 1
                else:
                    self.outcomes[f"refused {answer.status_code}"] += 1

    def wait_acknowledged(self, count: int, deadline: float = 30) -> None:
        wait_until(lambda: len(self.acknowledged) >= count, deadline)

    def stop(self) -> Counter[str]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=TIMEOUT + 5)
        return self.outcomes


def read(node: Role, digest: str) -> bytes | None:
    answer = requests.get(f"{node.url}/retrieve", params={"hash": digest}, timeout=TIMEOUT)
    return answer.content if answer.status_code == 200 else None


def test_kill_9_of_the_peer_then_of_the_node_loses_no_acknowledged_small_form(spawn):
    cluster = spawn(nodes=2, env={**FAST, "MDBX_REPLICATION": "2"})
    node, peer = cluster.nodes
    peer_id = str(peer.port)

    # The peer dies under load: the node answers on, its copies left to repair.
    senders = Senders(node, "a").start()
    senders.wait_acknowledged(30)
    peer.kill()
    time.sleep(1.0)
    outcomes = senders.stop()
    assert outcomes["ok"] >= 30 and outcomes["broken"] == 0, outcomes
    peer.start()
    cluster.wait_nodes_up()

    # Back up, it gets the node's copies again: the links to its old process are gone.
    again = Senders(node, "b").start()
    again.wait_acknowledged(30)
    assert any(peer_id in replicas for _payload, replicas in again.acknowledged.values())
    node.kill()  # and now the node itself, in the middle of uploads
    again.stop()
    node.start()
    cluster.wait_nodes_up()

    acknowledged = {**senders.acknowledged, **again.acknowledged}
    for digest, (payload, replicas) in acknowledged.items():
        assert read(node, digest) == payload, digest
        if peer_id in replicas:
            assert read(peer, digest) == payload, digest


def requests_answered(node: Role, endpoint: str) -> float:
    """The 2xx answers of ``endpoint`` a node counted (each worker writes them every second)."""
    text = requests.get(f"{node.url}/metrics", timeout=TIMEOUT).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            wanted = {"endpoint": endpoint, "status": "2xx"}
            if sample.name == "mdbx_http_requests_total" and sample.labels == wanted:
                return sample.value
    return 0.0


def test_copies_sent_beside_the_nodes_own_survive_kill_9_of_both_nodes(spawn):
    cluster = spawn(nodes=2, env={**FAST, "MDBX_REPLICATION": "2"})
    node, peer = cluster.nodes
    ids = {str(node.port), str(peer.port)}

    senders = Senders(node, "c").start()
    senders.wait_acknowledged(120)
    # The peer took the copies in batches (POST /blobs), not one PUT /upload each: only
    # the first batch, before the master placed the node's copies, is forwarded after.
    wait_until(lambda: requests_answered(peer, "node.store_blobs") >= 1, 10)
    forwarded = requests_answered(peer, "node.upload")
    assert forwarded < len(senders.acknowledged) / 4, forwarded
    node.kill()  # both at once, uploads in flight
    peer.kill()
    outcomes = senders.stop()
    assert outcomes["ok"] >= 120, outcomes

    acknowledged = dict(senders.acknowledged)
    # Registered before the answer, both copies in one call by the node.
    for digest, (_payload, replicas) in acknowledged.items():
        assert set(replicas) == ids, (digest, replicas)
        listed = requests.get(f"{cluster.master.url}/get?hash={digest}", timeout=TIMEOUT)
        assert set(listed.json()["replicas"]) == ids, digest
    node.start()
    peer.start()
    cluster.wait_nodes_up()
    for digest, (payload, _replicas) in acknowledged.items():
        assert read(node, digest) == payload, digest
        assert read(peer, digest) == payload, digest
