"""Foundation benchmark: one master + one node, as deployed (gunicorn + gevent).

Measures 10 MiB upload and retrieve throughput, 4 KiB GET and upload requests/s, and
the node's peak RSS (gunicorn arbiter + workers) during the 10 MiB uploads. The load
comes from Python threads on the same 2 cores, so read the figures as client+server.

    .venv/bin/python bench/node_bench.py [--seconds 5] [--concurrency 16]
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import click
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from report import report  # noqa: E402

from tests.support.cluster import Cluster  # noqa: E402

MIB = 1024 * 1024


def process_tree_rss(pid: int) -> int:
    """Sum the RSS of ``pid`` and its children, in bytes (Linux /proc)."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            continue
    return total


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, process_tree_rss(self.pid))
            time.sleep(0.02)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak


def run_for(
    seconds: float, concurrency: int, task: Callable[[requests.Session, int], None]
) -> tuple[float, list[float]]:
    """Run ``task`` in ``concurrency`` threads for ``seconds``; return (ops/s, sorted latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(worker_id: int) -> None:
        session = requests.Session()
        i = 0
        while time.monotonic() < deadline and i < 1_000_000:
            start = time.perf_counter()
            task(session, worker_id * 1_000_000 + i)
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
            i += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.monotonic() - started), sorted(latencies)


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * fraction))]


@click.command()
@click.option("--seconds", default=5.0, help="Duration of each requests/s workload.")
@click.option("--concurrency", default=16, help="Client threads for the 4 KiB workloads.")
@click.option("--big-files", default=10, help="How many 10 MiB files to upload and read.")
def main(seconds: float, concurrency: int, big_files: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="mdbx-bench-"))
    cluster = Cluster(root).start(nodes=1)
    node = cluster.nodes[0]
    assert node.process is not None
    results: dict[str, dict[str, float]] = {}
    try:
        http = requests.Session()
        payloads = [os.urandom(10 * MIB) for _ in range(big_files)]
        sampler = RssSampler(node.process.pid)
        sampler.start()
        digests = []
        started = time.perf_counter()
        for i, payload in enumerate(payloads):
            reply = http.post(f"{node.url}/upload", files={"file": (f"big{i}", payload)})
            reply.raise_for_status()
            digests.append(reply.json()["hash"])
        upload_s = time.perf_counter() - started
        peak_rss = sampler.stop()
        results["upload_10mib"] = {"MB/s": big_files * 10 * MIB / upload_s / 1e6}
        results["node_peak_rss_during_10mib_uploads"] = {"MB": peak_rss / 1e6}

        started = time.perf_counter()
        received = 0
        for digest in digests:
            with http.get(f"{node.url}/retrieve", params={"hash": digest}, stream=True) as reply:
                for chunk in reply.iter_content(MIB):
                    received += len(chunk)
        retrieve_s = time.perf_counter() - started
        results["retrieve_10mib"] = {"MB/s": received / retrieve_s / 1e6}

        small = http.post(f"{node.url}/upload", files={"file": ("s", os.urandom(4096))}).json()
        url = f"{node.url}/retrieve?hash={small['hash']}"

        def get_small(session: requests.Session, _i: int) -> None:
            session.get(url).raise_for_status()

        rate, lat = run_for(seconds, concurrency, get_small)
        results["get_4kib"] = {
            "req/s": rate,
            "p50 ms": statistics.median(lat) * 1000,
            "p99 ms": percentile(lat, 0.99) * 1000,
        }

        if shutil.which("wrk"):
            # wrk is a C client: it shows what the node serves when the client is not the limit.
            out = subprocess.run(
                ["wrk", "-t2", "-c64", f"-d{seconds:g}s", "--latency", url],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            rate_match = re.search(r"Requests/sec:\s+([\d.]+)", out)
            p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
            p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
            if rate_match and p50 and p99:
                results["get_4kib_wrk_c64"] = {
                    "req/s": float(rate_match.group(1)),
                    "p50 ms": float(p50.group(1)) * scale[p50.group(2)],
                    "p99 ms": float(p99.group(1)) * scale[p99.group(2)],
                }

        def put_small(session: requests.Session, i: int) -> None:
            data = i.to_bytes(8, "big") + os.urandom(4088)
            session.post(f"{node.url}/upload", files={"file": ("s", data)}).raise_for_status()

        rate, lat = run_for(seconds, concurrency, put_small)
        results["upload_4kib_durable"] = {
            "req/s": rate,
            "p50 ms": statistics.median(lat) * 1000,
            "p99 ms": percentile(lat, 0.99) * 1000,
        }
    finally:
        cluster.stop()
    header = f"workload | figures (concurrency {concurrency}, {seconds:g} s)"
    report("node_bench", results, header, digits=1)


if __name__ == "__main__":
    main()
