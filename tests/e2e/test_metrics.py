"""/metrics under real gunicorn: every worker's counts summed, fresh files at each start,
a node's overlay reads counted."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from pathlib import Path

import requests
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from app.metrics.process_dir import DIR_NAME

LIST = {"endpoint": "master.list_files", "status": "2xx"}
REQUEST_LIMIT = 400  # a bounded search for requests landing on both workers
DEADLINE = 60.0
FLUSH_WAIT = 10.0  # each worker writes its counts every second


def eventually(read, expected: float) -> float:
    """``read()`` once it equals ``expected``, or its last value after FLUSH_WAIT."""
    deadline = time.monotonic() + FLUSH_WAIT
    while (got := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return got


def scraped(url: str, name: str, labels: dict[str, str]) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def counts_by_pid(metrics_dir: Path, labels: dict[str, str]) -> Counter[int]:
    """What each worker wrote of mdbx_http_requests_total{labels} in its own file."""
    by_pid: Counter[int] = Counter()
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            _, name, found, _ = json.loads(key)
            if name == "mdbx_http_requests_total" and found == labels:
                by_pid[pid] += int(value)
    return by_pid


def test_counts_of_both_master_workers_are_summed_and_a_restart_starts_afresh(spawn):
    cluster = spawn(nodes=1, start=False)
    cluster.master.env["MDBX_WORKERS"] = "2"
    cluster.start(1)
    master = cluster.master
    metrics_dir = master.data_dir / DIR_NAME
    made = 0
    started = time.monotonic()
    # New connections each: gunicorn's workers race to accept them.
    while made < REQUEST_LIMIT and time.monotonic() - started < DEADLINE:
        assert requests.get(f"{master.url}/list", timeout=10).status_code == 200
        made += 1
        if made % 20 == 0 and len(counts_by_pid(metrics_dir, LIST)) >= 2:
            break
    assert eventually(lambda: sum(counts_by_pid(metrics_dir, LIST).values()), made) == made
    by_pid = counts_by_pid(metrics_dir, LIST)
    assert len(by_pid) == 2 and min(by_pid.values()) > 0, by_pid
    assert eventually(lambda: scraped(master.url, "mdbx_http_requests_total", LIST), made) == made
    assert scraped(master.url, "mdbx_cluster_nodes", {"state": "up"}) == 1
    assert requests.get(f"{master.url}/ready", timeout=10).status_code == 503  # R=2, 1 node

    old_files = set(metrics_dir.iterdir())
    assert master.stop() == 0
    master.start()
    assert not old_files & set(metrics_dir.iterdir())  # the last run's files are gone
    assert scraped(master.url, "mdbx_http_requests_total", LIST) == 0


def test_a_nodes_metrics_count_an_overlay_get(spawn):
    cluster = spawn(nodes=1)
    node = cluster.nodes[0]
    body = os.urandom(4096)
    digest = hashlib.sha256(body).hexdigest()
    put = requests.put(f"{node.url}/upload?name=b.bin&hash={digest}", data=body, timeout=10)
    assert put.status_code == 200, put.text
    labels = {"endpoint": "node.retrieve", "status": "2xx"}
    before = scraped(node.url, "mdbx_http_requests_total", labels)
    sent = scraped(node.url, "mdbx_http_response_bytes_total", {"endpoint": "node.retrieve"})
    # A plain GET of a stored blob is the overlay's (tests/api/test_node_fast_path.py).
    got = requests.get(f"{node.url}/retrieve?hash={digest}", timeout=10)
    assert got.content == body

    def count() -> float:
        return scraped(node.url, "mdbx_http_requests_total", labels)

    assert eventually(count, before + 1) == before + 1

    def bytes_sent() -> float:
        return scraped(node.url, "mdbx_http_response_bytes_total", {"endpoint": "node.retrieve"})

    assert eventually(bytes_sent, sent + len(body)) == sent + len(body)
    assert scraped(node.url, "mdbx_blobs_stored", {}) >= 0
    ready = requests.get(f"{node.url}/ready", timeout=10)
    assert ready.status_code == 200 and ready.json()["checks"] == {"metadata": "ok", "disk": "ok"}
