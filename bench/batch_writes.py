"""Many small files into one account (issue #21): ``POST /api/batch`` against one
``PUT /api/files`` per file, on a real cluster (a master and two nodes, R = 2).

- 10,000 files of 4 KiB in batches of 200, one request at a time, then with a few
  requests at once (as a sync client may send them);
- the same files one PUT at a time (fewer of them: it is the slow path being compared).

Every file has bytes of its own (nothing deduplicated). Bounded: a fixed count of files,
every request with a timeout.

    .venv/bin/python -m bench.batch_writes [--files 10000] [--batch 200] [--concurrency 4]
"""

from __future__ import annotations

import datetime
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import requests

from bench.load import KIB
from bench.machine import machine
from bench.procstat import CpuMeter
from bench.results import Results, cpu_note, num
from localcluster.launcher import Cluster

USER, PASSWORD = "bench", "bench-password"
TIMEOUT = 120
# The goal for a first sync of 10,000 files of 4 KiB.
TARGET_FILES_PER_S = 500.0


def login(master: str) -> requests.Session:
    requests.post(
        f"{master}/api/admin/users", json={"username": USER, "password": PASSWORD}, timeout=10
    ).raise_for_status()
    token = requests.post(
        f"{master}/api/login", json={"username": USER, "password": PASSWORD}, timeout=10
    ).json()["token"]
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    return http


def send_batch(http: requests.Session, master: str, folder: str, files: list[bytes]) -> None:
    parts = [(f"f{n:05d}.bin", (f"f{n:05d}.bin", body)) for n, body in enumerate(files)]
    reply = http.post(f"{master}/api/batch", params={"dir": folder}, files=parts, timeout=TIMEOUT)
    reply.raise_for_status()
    failed = [r for r in reply.json()["results"] if "error" in r]
    if failed:
        raise RuntimeError(f"{len(failed)} files of a batch failed: {failed[0]}")


def batches_per_s(
    master: str, http: requests.Session, files: int, size: int, batch: int, concurrency: int
) -> float:
    """Files per second for ``files`` new files sent ``batch`` at a time (their bytes
    made before the clock starts)."""
    work = [
        (f"/c{concurrency}/b{start // batch:05d}", [os.urandom(size) for _ in range(batch)])
        for start in range(0, files, batch)
    ]
    sessions = [requests.Session() for _ in range(concurrency)]
    for session in sessions:
        session.headers.update(http.headers)
    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(
            pool.map(
                lambda item: send_batch(sessions[item[0] % concurrency], master, *item[1]),
                enumerate(work),
            )
        )
    return files / (time.perf_counter() - began)


def puts_per_s(master: str, http: requests.Session, files: int, size: int) -> float:
    began = time.perf_counter()
    for n in range(files):
        reply = http.put(
            f"{master}/api/files/single/f{n:05d}.bin", data=os.urandom(size), timeout=TIMEOUT
        )
        reply.raise_for_status()
    return files / (time.perf_counter() - began)


@click.command()
@click.option("--files", default=10_000, help="Files sent through the batch call, per run.")
@click.option("--size-kib", default=4, help="KiB per file.")
@click.option("--batch", default=200, help="Files per request.")
@click.option("--concurrency", default=4, help="Requests at once in the second run.")
@click.option("--single", default=500, help="Files sent one PUT at a time, for comparison.")
def main(files: int, size_kib: int, batch: int, concurrency: int, single: int) -> None:
    results = Results()
    size = size_kib * KIB
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as scratch:
        cluster = Cluster(Path(scratch) / "cluster").start(nodes=2)
        try:
            master = cluster.master.url
            http = login(master)
            roles = {"master": cluster.master.process.pid}  # type: ignore[union-attr]
            for n, node in enumerate(cluster.nodes, 1):
                roles[f"node{n}"] = node.process.pid  # type: ignore[union-attr]
            for parallel in (1, concurrency):
                workload = (
                    f"{files} files of {size_kib} KiB, batches of {batch}, {parallel} at once"
                )
                print(workload, flush=True)
                with CpuMeter(roles) as meter:
                    rate = batches_per_s(master, http, files, size, batch, parallel)
                cpu = meter.ms_per(files)
                ratio = results.figure(
                    workload, rate, TARGET_FILES_PER_S, "files/s", cpu_ms_per_file=cpu
                )
                results.row(
                    workload,
                    f"goal {num(TARGET_FILES_PER_S, 'files/s')}",
                    f"`POST /api/batch` {num(rate, 'files/s')}{cpu_note(cpu)}",
                    ratio,
                    f"≥ {TARGET_FILES_PER_S:g} files/s",
                    rate >= TARGET_FILES_PER_S,
                )
            print(f"{single} files, one PUT each", flush=True)
            rate = puts_per_s(master, http, single, size)
            results.figure(f"{single} files of {size_kib} KiB, one PUT each", rate, None, "files/s")
            results.row(
                f"{single} files of {size_kib} KiB, one `PUT /api/files` each",
                "",
                num(rate, "files/s"),
                None,
            )
        finally:
            cluster.stop()
    report = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    saved = results.save("batch_writes", report)
    print(f"\n{results.table()}\n\nfigures in {saved}")


if __name__ == "__main__":
    main()
