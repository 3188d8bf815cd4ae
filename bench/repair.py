"""Node loss (issue #4): write paths, dead-node detection, time to restore R.

Starts real clusters (one master, three nodes, R = 2) as `mdbx serve` runs them, with
NODE_TIMEOUT and REPAIR_GRACE shortened so that the measurement is of the mechanism, not
of the configured waits (which add to the figures 1:1 in production):

- uploads through the master's POST /upload versus POST /assign + a chain upload to the
  first node (files/s for small files, MB/s for 10 MiB files);
- time from SIGKILL of a node to the master showing it down;
- time from then until /cluster/health shows no under-replicated file, for 1,000 small
  files and for 1 GiB (in 10 MiB files, today's per-request limit).

    .venv/bin/python -m bench.repair [--small 1000] [--big-mib 1024]
"""

from __future__ import annotations

import datetime
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import requests

from bench.load import MIB
from bench.machine import machine
from bench.results import Results, num
from localcluster.launcher import Cluster, wait_until

NODE_TIMEOUT = 3.0
ENV = {
    "MDBX_SYNC_INTERVAL": "0.5",
    "MDBX_NODE_TIMEOUT": str(NODE_TIMEOUT),
    "MDBX_REPAIR_GRACE": "0",
    "MDBX_REPAIR_INTERVAL": "0.5",
    "MDBX_REPAIR_BATCH": "500",
    "MDBX_SCRUB_INTERVAL": "3600",
}


def via_master(master: str) -> Callable[[requests.Session, bytes, str], None]:
    def put(http: requests.Session, data: bytes, name: str) -> None:
        reply = http.post(f"{master}/upload", files={"file": (name, data)}, timeout=120)
        reply.raise_for_status()
        assert reply.json()["copies"] == 2

    return put


def via_assign(master: str) -> Callable[[requests.Session, bytes, str], None]:
    def put(http: requests.Session, data: bytes, name: str) -> None:
        plan = http.post(f"{master}/assign", timeout=30).json()
        reply = http.post(
            plan["upload_url"],
            params={"replicate": "0", "chain": ",".join(plan["chain"])},
            files={"file": (name, data)},
            timeout=120,
        )
        reply.raise_for_status()
        assert len(reply.json()["replicas"]) == 2

    return put


def timed_uploads(
    put: Callable[[requests.Session, bytes, str], None], payloads: list[bytes], threads: int
) -> float:
    """Upload every payload with ``threads`` clients; return the seconds it took."""
    sessions = [requests.Session() for _ in range(threads)]
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(
            pool.map(
                lambda item: put(sessions[item[0] % threads], item[1], f"f{item[0]}"),
                enumerate(payloads),
            )
        )
    return time.perf_counter() - started


def kill_and_restore(cluster: Cluster, deadline: float) -> tuple[float, float]:
    """SIGKILL the fullest node; return (seconds to detect it, seconds to restore R)."""
    master = cluster.master.url
    victim = max(cluster.nodes, key=lambda n: sum(1 for _ in (n.data_dir / "blobs").rglob("*")))
    victim_id = str(victim.port)
    victim.kill()
    killed = time.monotonic()
    wait_until(
        lambda: any(
            n["id"] == victim_id and n["state"] == "down"
            for n in requests.get(f"{master}/nodes", timeout=10).json()
        ),
        deadline=60,
        interval=0.05,
    )
    detected = time.monotonic()
    wait_until(
        lambda: (
            requests.get(f"{master}/cluster/health", timeout=30).json()["under_replicated"] == 0
        ),
        deadline=deadline,
        interval=0.2,
    )
    return detected - killed, time.monotonic() - detected


def run_cluster(root: Path, body: Callable[[Cluster], None]) -> None:
    cluster = Cluster(root, env=ENV).start(nodes=3)
    try:
        body(cluster)
    finally:
        cluster.stop()


@click.command()
@click.option("--small", default=1000, help="Number of 4 KiB files.")
@click.option("--big-mib", default=1024, help="MiB of 10 MiB files for the large case.")
@click.option("--threads", default=8, help="Client threads for uploads.")
def main(small: int, big_mib: int, threads: int) -> None:
    """Two clusters (small files, then big ones): upload both ways, kill a node, time R."""
    results = Results()
    root = Path(tempfile.mkdtemp(prefix="mdbx-repair-bench-"))

    def rate(workload: str, value: float, unit: str) -> None:
        results.figure(workload, value, None, unit)
        results.row(workload, "—", num(value, unit), None)

    def seconds(workload: str, value: float, note: str = "") -> None:
        results.figure(workload, value, None, "s")
        results.row(workload, "—", num(value, "s") + note, None)

    def small_files(cluster: Cluster) -> None:
        master = cluster.master.url
        half = [os.urandom(4096) for _ in range(small // 2)]
        other = [os.urandom(4096) for _ in range(small - small // 2)]
        took = timed_uploads(via_master(master), half, threads)
        rate(f"upload 4 KiB via master `/upload`, {threads} threads", len(half) / took, "files/s")
        took = timed_uploads(via_assign(master), other, threads)
        rate(f"upload 4 KiB via `/assign` + chain, {threads} threads", len(other) / took, "files/s")
        detect, restore = kill_and_restore(cluster, deadline=600)
        seconds(
            "SIGKILL of a node to `down` in /nodes", detect, f" (NODE_TIMEOUT {NODE_TIMEOUT} s)"
        )
        seconds(f"restore R = 2 of {small} small files", restore)

    def big_files(cluster: Cluster) -> None:
        master = cluster.master.url
        count = max(2, big_mib // 10)
        blob = os.urandom(10 * MIB)
        # Distinct contents without holding 1 GiB of random bytes: vary the first 8 bytes.
        payloads = [i.to_bytes(8, "big") + blob[8:] for i in range(count)]
        half = count // 2
        took = timed_uploads(via_master(master), payloads[:half], 2)
        rate("upload 10 MiB via master `/upload`, 2 threads", half * 10 * MIB / took / 1e6, "MB/s")
        took = timed_uploads(via_assign(master), payloads[half:], 2)
        moved = (count - half) * 10 * MIB / took / 1e6
        rate("upload 10 MiB via `/assign` + chain, 2 threads", moved, "MB/s")
        _detect, restore = kill_and_restore(cluster, deadline=1200)
        seconds(f"restore R = 2 of {count * 10} MiB in 10 MiB files", restore)

    for name, body in (("small", small_files), ("big", big_files)):
        try:
            run_cluster(root / name, body)
        except Exception as error:
            results.fail(f"{name} files", error)
    report = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "options": {"small": small, "big_mib": big_mib, "threads": threads},
    }
    saved = results.save("repair", report)
    print(f"\n{results.table()}\n\nfigures in {saved}")


if __name__ == "__main__":
    main()
