"""Fault 5 of #20: every process restarted one after another (each node, then the master)
under a bounded load of reads and writes, R = 2: zero failed reads of acknowledged data.
Readers go through the master; while the master itself restarts they read the nodes the
block map named, as the ``mdbx`` client does."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections import Counter

import pytest
import requests

from tests.support.faults import FAST, Ledger, record_figure, wait_healthy
from tests.support.upload_kinds import Refused, raw_to_master

TIMEOUT = 10
READERS = 4
MAX_OPS = 5_000  # per thread, whatever the pace
T0 = time.monotonic()


def _code(answer: requests.Response) -> str | None:
    if answer.status_code == 200:
        return None
    try:
        return answer.json()["error"]["code"]
    except ValueError:
        return None


class StormLoad:
    def __init__(self, cluster, ledger: Ledger) -> None:
        self.cluster = cluster
        self.ledger = ledger
        self.maps: dict[str, list[dict]] = {}  # digest -> its blocks' urls, learnt once
        self.counts: Counter[str] = Counter()
        self.failures: list[str] = []
        self.stop = threading.Event()

    def remember_map(self, digest: str) -> None:
        url = f"{self.cluster.master.url}/files/{digest}/blocks"
        self.maps[digest] = requests.get(url, timeout=TIMEOUT).json()["blocks"]

    def read(self, rng: random.Random) -> None:
        for _ in range(MAX_OPS):
            if self.stop.is_set():
                return
            digest = rng.choice(list(self.ledger.acknowledged))
            wanted = self.ledger.acknowledged[digest]
            try:
                answer = requests.get(
                    f"{self.cluster.master.url}/download", params={"hash": digest}, timeout=TIMEOUT
                )
            except requests.ConnectionError:
                answer = None
            if answer is None or _code(answer) == "master_unavailable":
                # The master is down (or went down between its redirect and the node's
                # question about the file's blocks): the nodes it named still serve.
                got, how = self.from_nodes(digest), "from nodes"
            else:
                got, how = (answer.content if answer.status_code == 200 else None), "master"
            self.counts[f"read {how}"] += 1
            if got != wanted:
                status = (
                    (answer.status_code, answer.url, answer.text[:400]) if how == "master" else None
                )
                self.failures.append(f"{time.monotonic() - T0:.2f} {digest[:12]} {how} {status}")

    def from_nodes(self, digest: str) -> bytes | None:
        parts = []
        for block in self.maps[digest]:
            for url in block["urls"]:
                try:
                    answer = requests.get(
                        f"{url}/retrieve", params={"hash": block["hash"]}, timeout=TIMEOUT
                    )
                except requests.RequestException:
                    continue
                if answer.status_code == 200:
                    parts.append(answer.content)
                    break
            else:
                return None
        return b"".join(parts)

    def write(self) -> None:
        for i in range(MAX_OPS):
            if self.stop.is_set():
                return
            payload = os.urandom(2_000 + i)
            digest = self.ledger.sent(hashlib.sha256(payload).hexdigest(), payload)
            try:
                raw_to_master(self.cluster, payload, f"storm-{i}.bin")
            except Refused:
                self.ledger.refuse(digest)
                self.counts["write refused"] += 1
                time.sleep(0.05)
                continue
            except requests.RequestException:
                self.counts["write broken"] += 1  # in flight: stored or not
                time.sleep(0.05)
                continue
            try:
                self.remember_map(digest)
            except requests.RequestException:
                continue  # acknowledged, but unread here without its block map
            self.ledger.acknowledge(digest)
            self.counts["write ok"] += 1


@pytest.mark.soak
def test_a_restart_storm_fails_no_read_of_acknowledged_data(spawn):
    cluster = spawn(nodes=3, env={**FAST, "MDBX_BLOCK_SIZE": str(64 * 1024)})
    ledger = Ledger()
    load = StormLoad(cluster, ledger)
    for i in range(10):
        payload = os.urandom(150_000 if i < 3 else 3_000 + i)  # some of several blocks
        digest = raw_to_master(cluster, payload, f"before-{i}.bin")
        ledger.acknowledged[digest] = payload
        load.remember_map(digest)
    threads = [threading.Thread(target=load.read, args=(random.Random(n),)) for n in range(READERS)]
    threads.append(threading.Thread(target=load.write))
    for thread in threads:
        thread.start()
    began = time.monotonic()
    restarts = {}
    restarts_at = []
    try:
        for role in [*cluster.nodes, cluster.master]:
            started = time.monotonic()
            restarts_at.append(f"{role.role} at {started - T0:.2f}")
            role.stop()
            role.start()
            cluster.wait_nodes_up()
            restarts[f"{role.role} {role.port}"] = round(time.monotonic() - started, 2)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)
    storm = time.monotonic() - began
    recovered = wait_healthy(cluster.master, nodes=3, since=time.monotonic())
    for failure in load.failures[:20]:
        print("FAILED READ", failure)
    assert not load.failures, (load.failures[:20], restarts_at)
    assert load.counts["read master"] > 50 and load.counts["write ok"] > 5, load.counts
    assert ledger.assert_intact(cluster.master) == len(ledger.acknowledged)
    record_figure(
        "restart storm (3 nodes then the master)",
        seconds_of_storm=round(storm, 2),
        seconds_per_restart=restarts,
        seconds_to_healthy_after=round(recovered, 2),
        operations=dict(load.counts),
        failed_reads_of_acknowledged_data=len(load.failures),
    )
