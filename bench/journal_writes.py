"""What the tree journal costs a small write (issue #20): ``PUT /api/files`` of 1 KiB
files into one account on a real cluster (a master and two nodes, R = 2), first with no
snapshot (nothing is journaled: the reference), then after one (each write is journaled
on R nodes before it is answered), one request at a time and a few at once.

Every file has bytes and a path of its own. Bounded: a fixed count of requests, each
with a timeout. The ratio is journaled / not journaled, in the same run.

    .venv/bin/python -m bench.journal_writes [--files 300] [--concurrency 1 --concurrency 8]
"""

from __future__ import annotations

import datetime
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
import requests

from bench.batch_writes import login
from bench.machine import machine
from bench.results import Results, num
from localcluster.launcher import Cluster

TIMEOUT = 60
SIZE = 1024
# No scheduled snapshot: the first one is the bench's own, between the two phases.
ENV = {"MDBX_SNAPSHOT_INTERVAL": "0"}


def put_latencies(
    master: str, http: requests.Session, prefix: str, files: int, concurrency: int
) -> tuple[list[float], float]:
    """Milliseconds of each of ``files`` PUTs sent ``concurrency`` at a time, and the
    files per second."""
    sessions = [requests.Session() for _ in range(concurrency)]
    for session in sessions:
        session.headers.update(http.headers)
    bodies = [os.urandom(SIZE) for _ in range(files)]

    def put(n: int) -> float:
        began = time.perf_counter()
        reply = sessions[n % concurrency].put(
            f"{master}/api/files/{prefix}/f{n:05d}.bin", data=bodies[n], timeout=TIMEOUT
        )
        reply.raise_for_status()
        return (time.perf_counter() - began) * 1000

    began = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(put, range(files)))
    return latencies, files / (time.perf_counter() - began)


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


@click.command()
@click.option("--files", default=300, help="PUTs per phase and concurrency.")
@click.option(
    "--concurrency", multiple=True, type=int, default=(1, 8), help="Requests at once (repeat)."
)
def main(files: int, concurrency: tuple[int, ...]) -> None:
    results = Results()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as scratch:
        cluster = Cluster(Path(scratch) / "cluster", env=ENV).start(nodes=2)
        try:
            master = cluster.master.url
            http = login(master)
            measured: dict[tuple[str, int], tuple[list[float], float]] = {}
            for phase in ("off", "on"):
                if phase == "on":
                    taken = requests.post(f"{master}/admin/snapshots", timeout=TIMEOUT)
                    taken.raise_for_status()
                for parallel in concurrency:
                    print(f"journal {phase}, {files} PUTs, {parallel} at once", flush=True)
                    measured[phase, parallel] = put_latencies(
                        master, http, f"{phase}{parallel}", files, parallel
                    )
            for parallel in concurrency:
                (off, off_rate), (on, on_rate) = measured["off", parallel], measured["on", parallel]
                workload = f"PUT /api/files 1 KiB, {parallel} at once, median ms"
                ratio = results.figure(
                    workload,
                    statistics.median(on),
                    statistics.median(off),
                    "ms",
                    p99_ms=p99(on),
                    reference_p99_ms=p99(off),
                    files_per_s=on_rate,
                    reference_files_per_s=off_rate,
                )
                results.row(
                    workload,
                    f"no journal: {statistics.median(off):.1f} ms (p99 {p99(off):.1f}), "
                    f"{num(off_rate, 'files/s')}",
                    f"journaled: {statistics.median(on):.1f} ms (p99 {p99(on):.1f}), "
                    f"{num(on_rate, 'files/s')}",
                    ratio,
                )
        finally:
            cluster.stop()
    report = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load": [round(value, 2) for value in load],
    }
    saved = results.save("journal_writes", report)
    print(f"\nload average at the start: {load}\n\n{results.table()}\n\nfigures in {saved}")


if __name__ == "__main__":
    main()
