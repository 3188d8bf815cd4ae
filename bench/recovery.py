"""A master rebuilt from its nodes (issue #20, fault 6): the time from a master started on
an empty data directory to its catalogue back (files, blocks, manifests and the latest
snapshot of the user trees), with no operator.

One master and two nodes (R = 2) as `mdbx serve` runs them: SMALL files of 1 KiB through
`/assign` + a chain upload, LARGE files of 5 MiB (a manifest of two blocks each) through
the master, and a user with ENTRIES files of their own; a snapshot; then the master is
stopped, its data directory deleted and it is started again.

    .venv/bin/python -m bench.recovery [--small 10000] [--large 20] [--entries 200]
"""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click
import requests

from bench.load import MIB
from bench.machine import machine
from bench.repair import timed_uploads
from bench.results import Results, num
from localcluster.launcher import Cluster, wait_until

ENV = {"MDBX_SYNC_INTERVAL": "0.5", "MDBX_SNAPSHOT_INTERVAL": "0", "MDBX_SCRUB_INTERVAL": "3600"}


def via_chain(master: str) -> Callable[[requests.Session, bytes, str], None]:
    """Raw PUTs to the first node of one plan, forwarded down its chain: the cheapest
    way in for thousands of small files (one request each)."""
    plan = requests.post(f"{master}/assign", timeout=30).json()
    params = {"replicate": "0", "chain": ",".join(plan["chain"])}

    def put(http: requests.Session, data: bytes, name: str) -> None:
        reply = http.put(
            plan["upload_url"], params={**params, "name": name}, data=data, timeout=120
        )
        reply.raise_for_status()

    return put


def user_files(master: str, entries: int, threads: int) -> None:
    """A user with ``entries`` small files of their own."""
    added = requests.post(
        f"{master}/api/admin/users",
        json={"username": "bench", "password": "bench-pw-1"},
        timeout=30,
    )
    added.raise_for_status()
    token = requests.post(
        f"{master}/api/login", json={"username": "bench", "password": "bench-pw-1"}, timeout=30
    ).json()["token"]
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"

    def put(index: int) -> None:
        reply = http.put(
            f"{master}/api/files/d{index % 10}/f{index}", data=os.urandom(512), timeout=60
        )
        reply.raise_for_status()

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, range(entries)))


def recovered(master: str, deadline: float) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        try:
            status = requests.get(f"{master}/admin/recover", timeout=10).json()
        except requests.RequestException:
            return None
        return None if status["recovering"] or status["last"] is None else status["last"]

    report: dict[str, Any] = wait_until(done, deadline, interval=0.05)
    return report


@click.command()
@click.option("--small", default=10_000, help="Number of 1 KiB files.")
@click.option("--large", default=20, help="Number of 5 MiB files (two blocks each).")
@click.option("--entries", default=200, help="Files of a user's own.")
@click.option("--threads", default=8, help="Client threads for uploads.")
def main(small: int, large: int, entries: int, threads: int) -> None:
    """Fill a cluster, delete its master's data directory, time the rebuild."""
    results = Results()
    root = Path(tempfile.mkdtemp(prefix="mdbx-recovery-bench-"))
    cluster = Cluster(root, env=ENV)
    try:
        cluster.start(nodes=2)
        master = cluster.master.url
        recovered(master, 60)
        took = timed_uploads(via_chain(master), [os.urandom(1024) for _ in range(small)], threads)
        print(f"{small} small files uploaded in {took:.1f} s")
        blob = os.urandom(5 * MIB)
        for index in range(large):
            data = index.to_bytes(8, "big") + blob[8:]
            requests.put(
                f"{master}/upload/large{index}.bin", data=data, timeout=120
            ).raise_for_status()
        user_files(master, entries, threads)
        snapshot = requests.post(f"{master}/admin/snapshots", timeout=120).json()
        files_before = requests.get(f"{master}/health", timeout=30).json()["files"]

        cluster.master.stop()
        shutil.rmtree(cluster.master.data_dir)
        started = time.monotonic()
        cluster.master.start()
        report = recovered(master, 600)
        rebuilt = time.monotonic() - started
        files_after = requests.get(f"{master}/health", timeout=30).json()["files"]
        label = f"{small} small + {large} large files, {entries} entries"
        results.figure(
            f"rebuild of a master from its nodes: {label}",
            rebuilt,
            None,
            "s",
            report=report,
            snapshot_bytes=snapshot["size"],
        )
        results.row(
            f"master rebuilt from 2 nodes ({label})",
            "—",
            num(rebuilt, "s"),
            None,
            "< 60 s",
            rebuilt < 60,
        )
        print(
            f"rebuilt in {rebuilt:.1f} s (from the master's start; recovery itself "
            f"{report['seconds']} s): files {files_before} -> {files_after}, "
            f"manifests {report['manifests']}, users {report['users']}, "
            f"entries {report['entries']}, snapshot {snapshot['size']} bytes"
        )
    except Exception as error:
        results.fail("recovery", error)
        print(cluster.logs())
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
    saved = results.save(
        "recovery",
        {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "options": {"small": small, "large": large, "entries": entries, "threads": threads},
        },
    )
    print(f"\n{results.table()}\n\nfigures in {saved}")


if __name__ == "__main__":
    main()
