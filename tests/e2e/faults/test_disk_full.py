"""Fault 2 of #20: a node's disk fills up for real (its data directory on an 8 MiB tmpfs
mounted by the test). The node answers 507 JSON and keeps no partial blob, the master
places writes on the others, nothing stored before is damaged, the node serves reads while
full, and once room is made it takes writes again and the cluster is healthy."""

from __future__ import annotations

import hashlib
import os
import time
from contextlib import ExitStack

import requests

from localcluster.launcher import wait_until
from tests.support.api import blob_path, node_id
from tests.support.faults import FAST, Ledger, record_figure, wait_healthy
from tests.support.node_temp import stray_temp_files
from tests.support.tmpfs import fill, small_disk
from tests.support.upload_kinds import multipart_to_node, raw_to_master

TIMEOUT = 15


def test_a_full_disk_on_a_node_answers_507_and_writes_go_elsewhere(spawn):
    # Every node on an 8 MiB disk, so that placement by free space picks the full one as
    # often as the others; its heartbeats are slow, so the master still believes it has
    # room: the writes sent to it are refused (507) and must go to a spare.
    cluster = spawn(nodes=0, env={**FAST, "MDBX_NODE_TIMEOUT": "60"})
    nodes = [cluster.add_node(env={"MDBX_MIN_FREE_BYTES": "0"}, start=False) for _ in range(3)]
    nodes[2].env["MDBX_SYNC_INTERVAL"] = "30"
    with ExitStack() as disks:
        for node in nodes:
            disks.enter_context(small_disk(node.data_dir, "8m"))
            disks.callback(node.stop)
            node.start()
        cluster.wait_nodes_up()
        run_full_disk(cluster, nodes[2])


def run_full_disk(cluster, full):
    master = cluster.master
    ledger = Ledger()
    # The master places by free space, so the small disk gets copies only when sent to it.
    for i in range(12):
        payload = os.urandom(20_000 + i)
        digest = ledger.sent(hashlib.sha256(payload).hexdigest(), payload)
        multipart_to_node(cluster, payload, f"before-{i}.bin", node=cluster.nodes.index(full))
        ledger.acknowledge(digest)
    before = dict(ledger.acknowledged)
    assert all(blob_path(full, d).exists() for d in before)

    filler = fill(full.data_dir, leave=50_000)
    # Straight to the full node: 507 in our JSON, and no partial blob kept.
    refused = requests.post(
        f"{full.url}/upload", files={"file": ("big.bin", os.urandom(200_000))}, timeout=TIMEOUT
    )
    assert refused.status_code == 507, refused.text
    assert refused.json()["error"]["code"] == "insufficient_storage"
    assert stray_temp_files(full.data_dir) == []

    # Through the master: every write succeeds, on the two nodes with room (of 10 files,
    # all but one in 60,000 runs meet the full node first).
    started = time.monotonic()
    for i in range(10):
        payload = os.urandom(100_000 + i)
        digest = ledger.sent(hashlib.sha256(payload).hexdigest(), payload)
        raw_to_master(cluster, payload, f"while-full-{i}.bin")
        ledger.acknowledge(digest)
        assert not blob_path(full, digest).exists()
    placed_elsewhere = time.monotonic() - started
    # Its metrics are written each second. The master met it at least once, surely.
    refused_writes = wait_until(lambda: refusals(full) >= 2 and refusals(full), deadline=5)

    # The full node still serves what it held, byte for byte.
    for digest, payload in before.items():
        read = requests.get(f"{full.url}/retrieve", params={"hash": digest}, timeout=TIMEOUT)
        assert read.status_code == 200 and read.content == payload
    assert ledger.assert_intact(master) == 22

    filler.unlink()
    freed = time.monotonic()
    payload = os.urandom(200_000)
    stored = requests.post(f"{full.url}/upload", files={"file": ("after.bin", payload)})
    assert stored.status_code == 200, stored.text
    ledger.acknowledged[stored.json()["hash"]] = payload
    recovered = wait_healthy(master, nodes=3, since=freed)
    ledger.assert_intact(master)
    nodes = {n["id"]: n for n in requests.get(f"{master.url}/nodes", timeout=TIMEOUT).json()}
    assert nodes[node_id(full)]["state"] == "up"
    record_figure(
        "disk full on a node",
        seconds_to_place_10_writes_elsewhere=round(placed_elsewhere, 2),
        seconds_to_healthy_after_room_made=round(recovered, 2),
        copies_on_full_node_read_back=len(before),
        writes_refused_507_by_full_node=refused_writes,
    )


def refusals(node) -> float:
    """5xx answers the node counted for uploads (the 507s), from its /metrics."""
    text = requests.get(f"{node.url}/metrics", timeout=TIMEOUT).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("mdbx_http_requests_total{") and "upload" in line and '"5xx"' in line
    )
