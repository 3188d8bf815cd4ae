"""Resumable uploads: one big file through tus (``tuspy``, chunks of the size the master
advertises) against the same size in one ``curl -T`` to ``PUT /api/files``, on one
local cluster (a master, two nodes, R=2). ``python -m bench.resumable [--mib 200]``.

Each upload sends different random bytes: the second would otherwise find every block
stored already and send none.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import requests
from tusclient.client import TusClient

from bench.disk import random_file
from bench.load import MIB, curl_seconds
from localcluster.launcher import Cluster

TIMEOUT = 60


def login(master: str) -> dict[str, str]:
    account = {"username": "bench", "password": "bench-password-1"}
    added = requests.post(f"{master}/api/admin/users", json=account, timeout=TIMEOUT)
    added.raise_for_status()
    token = requests.post(f"{master}/api/login", json=account, timeout=TIMEOUT).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def tus_seconds(master: str, auth: dict[str, str], source: Path) -> tuple[float, int]:
    """Upload ``source`` with tuspy in the advertised chunk size; (seconds, chunk)."""
    options = requests.options(f"{master}/api/tus/", timeout=TIMEOUT)
    chunk = int(options.headers["Mdbx-Chunk-Size"])
    client = TusClient(f"{master}/api/tus/", headers=auth)
    with source.open("rb") as stream:
        uploader = client.uploader(
            file_stream=stream, chunk_size=chunk, metadata={"path": f"/tus/{source.name}"}
        )
        started = time.perf_counter()
        uploader.upload()
        elapsed = time.perf_counter() - started
    assert uploader.offset == source.stat().st_size
    return elapsed, chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=200, help="file size in MiB")
    opts = parser.parse_args()
    size = opts.mib * MIB
    with tempfile.TemporaryDirectory(prefix="mdbx-bench-tus-") as scratch:
        root = Path(scratch)
        cluster = Cluster(root / "cluster").start(nodes=2)
        try:
            master = cluster.master.url
            auth = login(master)
            via_tus, via_put = root / "tus.bin", root / "put.bin"
            random_file(via_tus, size)
            random_file(via_put, size)
            seconds, chunk = tus_seconds(master, auth, via_tus)
            tus_rate = size / seconds / 1e6
            put = curl_seconds(
                "-T",
                str(via_put),
                "-H",
                f"Authorization: {auth['Authorization']}",
                f"{master}/api/files/put/{via_put.name}",
                expect_bytes=size,
            )
            put_rate = size / put / 1e6
            print(f"{opts.mib} MiB, one client, R=2:")
            print(
                f"  tus (tuspy, {chunk // MIB} MiB chunks): {seconds:.2f} s, {tus_rate:,.0f} MB/s"
            )
            print(f"  PUT /api/files (curl -T):         {put:.2f} s, {put_rate:,.0f} MB/s")
            print(f"  ratio tus / PUT: {tus_rate / put_rate:.2f}")
        finally:
            with contextlib.suppress(Exception):
                cluster.stop()


if __name__ == "__main__":
    main()
