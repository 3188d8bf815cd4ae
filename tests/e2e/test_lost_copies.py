"""Copies that go behind the master's back (#17): a DELETE sent to a node by hand, a blob
file lost from a node's disk. The node tells the master, which forgets the copy: reads go
to the other copy, /cluster/health counts the blob under-replicated, and repair restores
it. A forged inventory adds nothing to the catalogue."""

from __future__ import annotations

import hashlib
import os

import requests

from localcluster.launcher import wait_until
from tests.support.api import blob_path, get_json, locations, node_id, upload
from tests.support.faults import FAST

TIMEOUT = 30
# No scrub (FAST): the node must tell of the loss by itself.
# Repair when the test asks for it, so that the state before it can be looked at.
MANUAL_REPAIR = {**FAST, "MDBX_REPAIR_INTERVAL": "3600"}
# How long a node's report and the master's pass may take, at most.
DEADLINE = 20


def redirect_of(master_url: str, digest: str) -> str:
    hop = requests.get(
        f"{master_url}/download", params={"hash": digest}, allow_redirects=False, timeout=TIMEOUT
    )
    assert hop.status_code == 302, hop.text
    return hop.headers["Location"]


def test_a_copy_deleted_or_lost_behind_the_masters_back_is_forgotten_then_repaired(spawn):
    cluster = spawn(nodes=2, env=MANUAL_REPAIR)
    master = cluster.master
    bad, good = cluster.nodes
    stored = [upload(master.url, os.urandom(50_000 + i), f"lost-{i}.bin") for i in range(2)]
    assert [body["copies"] for body in stored] == [2, 2]
    deleted, vanished = digests = [body["hash"] for body in stored]
    # One way: a DELETE sent to the node by hand.
    assert requests.delete(f"{bad.url}/blobs/{deleted}", timeout=TIMEOUT).status_code == 200
    # The other: the file goes from the disk; the node finds out when it is read.
    blob_path(bad, vanished).unlink()

    def read_vanished_until_forgotten() -> bool:
        requests.get(f"{master.url}/download", params={"hash": vanished}, timeout=TIMEOUT)
        return locations(master, vanished) == {node_id(good): "up"}

    wait_until(read_vanished_until_forgotten, deadline=DEADLINE, interval=0.2)
    wait_until(lambda: locations(master, deleted) == {node_id(good): "up"}, deadline=DEADLINE)
    health = get_json(master.url, "/cluster/health")
    assert (health["under_replicated"], health["healthy"], health["lost"]) == (2, 0, 0)
    for digest in digests:
        for _ in range(10):
            assert redirect_of(master.url, digest).startswith(f"{good.url}/retrieve?")

    report = requests.post(f"{master.url}/cluster/repair", timeout=TIMEOUT).json()
    assert report["copied"] == 2
    for digest in digests:
        assert blob_path(bad, digest).is_file()
        assert set(locations(master, digest)) == {node_id(bad), node_id(good)}
    assert get_json(master.url, "/cluster/health")["healthy"] == 2


def test_the_background_repair_restores_a_copy_deleted_by_hand(spawn):
    cluster = spawn(nodes=2, env=FAST)
    master = cluster.master
    bad, _good = cluster.nodes
    payload = os.urandom(30_000)
    digest = upload(master.url, payload, "by-hand.bin")["hash"]
    assert requests.delete(f"{bad.url}/blobs/{digest}", timeout=TIMEOUT).status_code == 200
    assert not blob_path(bad, digest).exists()

    def restored() -> bool:
        health = get_json(master.url, "/cluster/health")
        return blob_path(bad, digest).is_file() and health["healthy"] == 1

    wait_until(restored, deadline=DEADLINE)
    again = requests.get(f"{bad.url}/retrieve", params={"hash": digest}, timeout=TIMEOUT)
    assert again.content == payload


def test_a_forged_inventory_adds_no_file(cluster):
    node = cluster.nodes[0]
    before = get_json(cluster.master.url, "/list")
    forged = [
        {"hash": hashlib.sha256(f"junk {i}".encode()).hexdigest(), "name": f"j{i}", "size": 9}
        for i in range(10_000)
    ]
    answer = requests.post(
        f"{cluster.master.url}/nodes/inventory",
        json={"node": node_id(node), "url": node.url, "files": forged},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["confirmed"] == 0 and len(answer.json()["refused"]) == 10_000
    assert get_json(cluster.master.url, "/list") == before
