"""Fault 1 of #20: ``kill -9`` in the middle of uploads of every kind (multipart to the
master and to a node, raw PUT, the block upload protocol, ``/api/``): of a node, of the
master during commits, of both. Afterwards every acknowledged file reads back
byte-identical, nothing refused is visible, what was in flight is whole or absent, and
``/cluster/health`` is healthy again; the seconds to recover go to faults.json."""

from __future__ import annotations

import hashlib
import random
import threading
import time

import pytest
import requests

from tests.support.api import new_account
from tests.support.faults import FAST, record_figure, wait_healthy
from tests.support.upload_kinds import block_protocol
from tests.support.upload_load import UploadLoad

BLOCK = 64 * 1024
ENV = {**FAST, "MDBX_BLOCK_SIZE": str(BLOCK)}
AFTER_KILL = 1.5  # seconds the uploads go on against the broken cluster


def sha(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def check_intact(load: UploadLoad, headers: dict[str, str]) -> dict[str, int]:
    master = load.cluster.master
    return {
        "files_checked": load.files.assert_intact(master),
        "account_files_checked": load.account.assert_account_intact(master, headers),
        "in_flight": len(load.files.in_flight) + len(load.account.in_flight),
    }


def test_kill_9_of_a_node_in_the_middle_of_every_kind_of_upload(spawn):
    cluster = spawn(nodes=3, env=ENV)
    headers = new_account(cluster.master.url, "faults")
    victim = cluster.nodes[0]
    load = UploadLoad(cluster, headers, BLOCK, node=0).start()
    load.wait_acknowledged(each=3)
    victim.kill()
    killed = time.monotonic()
    time.sleep(AFTER_KILL)
    outcomes = load.stop()
    # Uploads through the master went on to the two nodes left.
    assert outcomes["multipart-master ok"] > 3 or outcomes["raw-master ok"] > 3, outcomes
    victim.start()
    restarted = time.monotonic()
    recovered = wait_healthy(cluster.master, nodes=3, since=restarted)
    figures = check_intact(load, headers)
    record_figure(
        "kill -9 node mid-upload",
        seconds_from_kill=round(restarted - killed + recovered, 2),
        seconds_from_restart=round(recovered, 2),
        outcomes=dict(outcomes),
        **figures,
    )


def begin_with_blocks_sent(cluster, payload: bytes) -> str:
    """Steps 1 and 2 of the block protocol; return the upload id, to commit."""
    blocks = [payload[i : i + BLOCK] for i in range(0, len(payload), BLOCK)]
    plan = {
        "name": "c.bin",
        "size": len(payload),
        "hash": hashlib.sha256(payload).hexdigest(),
        "block_size": BLOCK,
        "blocks": [hashlib.sha256(b).hexdigest() for b in blocks],
    }
    begun = requests.post(f"{cluster.master.url}/uploads", json=plan, timeout=15).json()
    for block in begun["missing"]:
        sent = requests.put(block["url"], data=blocks[block["indexes"][0]], timeout=15)
        assert sent.status_code == 200, sent.text
    return begun["upload_id"]


def commit(cluster, upload_id: str, digest: str, load: UploadLoad) -> None:
    try:
        answer = requests.post(f"{cluster.master.url}/uploads/{upload_id}/commit", timeout=15)
    except requests.RequestException:
        return  # in flight
    if answer.status_code == 200:
        load.files.acknowledge(digest)
    else:
        load.files.refuse(digest)


@pytest.mark.soak
def test_kill_9_of_the_master_in_the_middle_of_commits(spawn):
    cluster = spawn(nodes=2, env=ENV)
    headers = new_account(cluster.master.url, "faults")
    # Uploads with every block sent, whose commits all start at once: the kill cuts
    # some of them in the middle (each reads its blocks back to check the file's hash).
    load = UploadLoad(cluster, headers, BLOCK, kinds=("blocks", "raw-master", "api"))
    payloads = [random.Random(i).randbytes(8 * BLOCK + i) for i in range(8)]
    pending = [(begin_with_blocks_sent(cluster, p), load.files.sent(sha(p), p)) for p in payloads]
    load.start().wait_acknowledged(each=3)
    committers = [
        threading.Thread(target=commit, args=(cluster, upload_id, digest, load))
        for upload_id, digest in pending
    ]
    for committer in committers:
        committer.start()
    time.sleep(0.01)
    cluster.master.kill()
    for committer in committers:
        committer.join(timeout=30)
    killed = time.monotonic()
    time.sleep(AFTER_KILL / 3)
    outcomes = load.stop()
    cluster.master.start()
    restarted = time.monotonic()
    cluster.wait_nodes_up()
    recovered = wait_healthy(cluster.master, nodes=2, since=restarted)
    figures = check_intact(load, headers)
    cut = [p for p in payloads if sha(p) in load.files.in_flight]
    figures["commits_cut"] = len(cut)
    # What was cut off completes when sent again: the resume of the block protocol.
    began = time.monotonic()
    for payload in cut:
        assert block_protocol(cluster, payload, "again.bin", BLOCK) == sha(payload)
        load.files.acknowledge(sha(payload))
    figures["seconds_to_resume_cut_commits"] = round(time.monotonic() - began, 2)
    load.files.assert_intact(cluster.master)
    record_figure(
        "kill -9 master mid-commit",
        seconds_from_kill=round(restarted - killed + recovered, 2),
        seconds_from_restart=round(recovered, 2),
        outcomes=dict(outcomes),
        **figures,
    )


def test_kill_9_of_the_master_and_a_node_together_then_both_restart(spawn):
    cluster = spawn(nodes=3, env=ENV)
    headers = new_account(cluster.master.url, "faults")
    load = UploadLoad(cluster, headers, BLOCK, node=1).start()
    load.wait_acknowledged(each=3)
    victims = [cluster.master, cluster.nodes[1]]
    killers = [threading.Thread(target=v.kill) for v in victims]
    for killer in killers:
        killer.start()
    for killer in killers:
        killer.join()
    killed = time.monotonic()
    time.sleep(AFTER_KILL / 3)
    outcomes = load.stop()
    for victim in victims:
        victim.start()
    restarted = time.monotonic()
    cluster.wait_nodes_up()
    recovered = wait_healthy(cluster.master, nodes=3, since=restarted)
    figures = check_intact(load, headers)
    record_figure(
        "kill -9 master and node",
        seconds_from_kill=round(restarted - killed + recovered, 2),
        seconds_from_restart=round(recovered, 2),
        outcomes=dict(outcomes),
        **figures,
    )
