"""``mdbx sync`` of many small files (issue #21), through the client library as the
command runs it, on a real cluster (a master and two nodes, R = 2):

- the first sync of a tree of ``--files`` files of 4 KiB (files/s);
- a second sync with nothing changed (seconds);
- a second client pulling the whole tree into an empty folder (files/s);
- one file changed on the first client, synced, then seen by the second (seconds).

Every file has bytes of its own (nothing deduplicated). Bounded: a fixed count of files,
every request with a timeout.

    .venv/bin/python -m bench.sync [--files 10000] [--size-kib 4]
"""

from __future__ import annotations

import datetime
import os
import tempfile
import time
from pathlib import Path

import click
import requests

from app.client.account_client import AccountClient
from app.client.api import Client
from app.client.sync.runner import Syncer, SyncOptions
from bench.load import KIB
from bench.machine import machine
from bench.results import Results, num
from localcluster.launcher import Cluster

USER, PASSWORD = "bench", "bench-password"
# The goals: a first sync of 10,000 files of 4 KiB, a sync with nothing changed.
TARGET_FILES_PER_S = 500.0
TARGET_NOTHING_S = 2.0
FILES_PER_FOLDER = 500


def login(master: str) -> AccountClient:
    requests.post(
        f"{master}/api/admin/users", json={"username": USER, "password": PASSWORD}, timeout=10
    ).raise_for_status()
    token = requests.post(
        f"{master}/api/login", json={"username": USER, "password": PASSWORD}, timeout=10
    ).json()["token"]
    return AccountClient(Client(master, token))


def make_tree(root: Path, files: int, size: int) -> None:
    for n in range(files):
        path = root / f"d{n // FILES_PER_FOLDER:03d}" / f"f{n:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(size))
    # Older than the two seconds in which a scan hashes a file again whatever its stat.
    past = time.time_ns() - 10 * 10**9
    for path in root.rglob("*.bin"):
        os.utime(path, ns=(past, past))


def timed_sync(account: AccountClient, root: Path) -> tuple[float, dict[str, int]]:
    syncer = Syncer(account, SyncOptions(root, "/bench"))
    try:
        began = time.perf_counter()
        outcome = syncer.run()
        seconds = time.perf_counter() - began
    finally:
        syncer.close()
    if outcome.report.failed:
        raise RuntimeError(f"{len(outcome.report.failed)} failed: {outcome.report.failed[0]}")
    return seconds, dict(outcome.report.done)


@click.command()
@click.option("--files", default=10_000, help="Files in the tree.")
@click.option("--size-kib", default=4, help="KiB per file.")
def main(files: int, size_kib: int) -> None:
    results = Results()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as scratch:
        work = Path(scratch)
        cluster = Cluster(work / "cluster").start(nodes=2)
        try:
            cluster.wait_nodes_up()
            account = login(cluster.master.url)
            first, second = work / "first", work / "second"
            make_tree(first, files, size_kib * KIB)
            seconds, done = timed_sync(account, first)
            rate = files / seconds
            workload = f"mdbx sync, first sync of {files} files of {size_kib} KiB"
            print(f"{workload}: {rate:.0f} files/s {done}", flush=True)
            ratio = results.figure(workload, rate, TARGET_FILES_PER_S, "files/s")
            results.row(
                workload,
                f"goal {num(TARGET_FILES_PER_S, 'files/s')}",
                num(rate, "files/s"),
                ratio,
                f"≥ {TARGET_FILES_PER_S:g} files/s",
                rate >= TARGET_FILES_PER_S,
            )
            seconds, done = timed_sync(account, first)
            workload = f"mdbx sync, nothing changed among {files} files"
            print(f"{workload}: {seconds:.2f} s {done}", flush=True)
            results.figure(workload, seconds, TARGET_NOTHING_S, "s")
            results.row(
                workload,
                f"goal {TARGET_NOTHING_S:g} s",
                f"{seconds:.2f} s",
                None,
                f"< {TARGET_NOTHING_S:g} s",
                seconds < TARGET_NOTHING_S,
            )
            seconds, done = timed_sync(account, second)
            rate = files / seconds
            workload = f"mdbx sync, a second client pulls {files} files"
            print(f"{workload}: {rate:.0f} files/s {done}", flush=True)
            results.figure(workload, rate, None, "files/s")
            results.row(workload, "", num(rate, "files/s"), None)
            changed = next(first.rglob("*.bin"))
            changed.write_bytes(os.urandom(size_kib * KIB))
            began = time.perf_counter()
            timed_sync(account, first)
            timed_sync(account, second)
            seconds = time.perf_counter() - began
            workload = f"mdbx sync, one file changed among {files}: synced up, then down"
            print(f"{workload}: {seconds:.2f} s", flush=True)
            results.figure(workload, seconds, None, "s")
            results.row(workload, "", f"{seconds:.2f} s", None)
        finally:
            cluster.stop()
    report = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    saved = results.save("sync", report)
    print(f"\n{results.table()}\n\nfigures in {saved}")


if __name__ == "__main__":
    main()
