"""``mdbx sync`` of many small files (issue #21), through the client library as the
command runs it, on a real cluster (a master and two nodes, R = 2):

- the first sync of a tree of ``--files`` files of 4 KiB (files/s);
- a second sync with nothing changed (seconds);
- a second client pulling the whole tree into an empty folder (files/s);
- one file changed on the first client, synced, then seen by the second (seconds);
- a file of ``--large-mib`` MiB synced, then 1 KB of one block changed: the bytes the
  second sync sends (only the changed block should travel).

Side by side in the same run, the same tree copied by ``cp -r`` then ``sync``, by
``rclone copy`` to a local folder, and by ``rclone copy`` to ``rclone serve webdav``
(one HTTP PUT a file, as a WebDAV sync client sends them; Debian's ``rclone``, installed
when missing): the ratio is ours to each.

Every file has bytes of its own (nothing deduplicated), of ``--size-kib`` up to
``--max-kib`` KiB. Bounded: a fixed count of files, every request and command with a
timeout.

    .venv/bin/python -m bench.sync [--files 10000] [--size-kib 4] [--max-kib 4]
"""

from __future__ import annotations

import datetime
import os
import random
import shutil
import subprocess
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
from bench.nginx import apt_installed, free_port
from bench.results import Results, num
from localcluster.launcher import Cluster

USER, PASSWORD = "bench", "bench-password"
# The goals: a first sync of 10,000 files of 4 KiB, a sync with nothing changed.
TARGET_FILES_PER_S = 500.0
TARGET_NOTHING_S = 2.0
FILES_PER_FOLDER = 500
RCLONE = Path("/usr/bin/rclone")
# Seconds any reference copy may take.
COPY_TIMEOUT = 600


def new_user_token(master: str) -> str:
    """Make the bench's user on ``master`` and log it in; its token."""
    requests.post(
        f"{master}/api/admin/users", json={"username": USER, "password": PASSWORD}, timeout=10
    ).raise_for_status()
    token: str = requests.post(
        f"{master}/api/login", json={"username": USER, "password": PASSWORD}, timeout=10
    ).json()["token"]
    return token


def login(master: str) -> AccountClient:
    return AccountClient(Client(master, new_user_token(master)))


def make_tree(root: Path, files: int, size: int, max_size: int) -> None:
    sizes = random.Random(files)
    for n in range(files):
        path = root / f"d{n // FILES_PER_FOLDER:03d}" / f"f{n:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(sizes.randint(size, max(size, max_size))))
    # Older than the two seconds in which a scan hashes a file again whatever its stat.
    past = time.time_ns() - 10 * 10**9
    for path in root.rglob("*.bin"):
        os.utime(path, ns=(past, past))


def timed_sync(
    account: AccountClient, root: Path, remote: str = "/bench"
) -> tuple[float, dict[str, int]]:
    syncer = Syncer(account, SyncOptions(root, remote))
    try:
        began = time.perf_counter()
        outcome = syncer.run()
        seconds = time.perf_counter() - began
    finally:
        syncer.close()
    if outcome.report.failed:
        raise RuntimeError(f"{len(outcome.report.failed)} failed: {outcome.report.failed[0]}")
    return seconds, dict(outcome.report.done)


def large_file_edit(account: AccountClient, root: Path, mib: int, results: Results) -> None:
    """A file of ``mib`` MiB synced, one 4 MiB block of it changed, synced again: the
    bytes the second sync sent, against the file's size."""
    path = root / "large.bin"
    root.mkdir()
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(os.urandom(1024 * KIB))
    timed_sync(account, root, "/bench-large")
    with path.open("r+b") as out:
        out.seek(mib * 1024 * KIB // 2 + 1000)
        out.write(os.urandom(1000))
    syncer = Syncer(account, SyncOptions(root, "/bench-large"))
    try:
        began = time.perf_counter()
        report = syncer.run().report
        seconds = time.perf_counter() - began
    finally:
        syncer.close()
    sent = report.bytes_up
    workload = f"mdbx sync, 1 KB changed in one block of a {mib} MiB file: bytes sent"
    print(f"{workload}: {sent / (1024 * KIB):.2f} MiB in {seconds:.2f} s", flush=True)
    results.figure(workload, sent, mib * 1024 * KIB, "bytes", seconds=seconds)
    results.row(
        workload,
        f"the file: {mib} MiB",
        f"{sent / (1024 * KIB):.2f} MiB in {seconds:.2f} s",
        f"{sent / (mib * 1024 * KIB):.3f}",
    )


def timed(command: list[str]) -> float:
    """Seconds ``command`` took; it must succeed."""
    began = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=COPY_TIMEOUT)
    return time.perf_counter() - began


def reference_seconds(tree: Path, work: Path) -> dict[str, float]:
    """Seconds each reference takes to copy ``tree`` (each to a folder of its own)."""
    rclone = str(apt_installed("rclone", RCLONE))
    seconds = {
        "cp -r, then sync": timed(["sh", "-c", f'cp -r "{tree}" "{work / "cp"}" && sync']),
        "rclone copy to a folder": timed([rclone, "copy", str(tree), str(work / "rclone")]),
    }
    port = free_port()
    served = work / "webdav"
    served.mkdir()
    command = [rclone, "serve", "webdav", "--addr", f"127.0.0.1:{port}", str(served)]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as server:
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    requests.request("PROPFIND", f"http://127.0.0.1:{port}/", timeout=1)
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
            url = f"--webdav-url=http://127.0.0.1:{port}"
            seconds["rclone copy to rclone serve webdav"] = timed(
                [rclone, "copy", url, str(tree), ":webdav:/"]
            )
        finally:
            server.terminate()
            server.wait(timeout=10)
    for name in ("cp", "rclone", "webdav"):
        shutil.rmtree(work / name, ignore_errors=True)
    return seconds


@click.command()
@click.option("--files", default=10_000, help="Files in the tree.")
@click.option("--size-kib", default=4, help="KiB per file (the smallest).")
@click.option("--max-kib", default=0, help="KiB of the largest file (0: --size-kib).")
@click.option("--large-mib", default=64, help="MiB of the large file edited (0: none).")
def main(files: int, size_kib: int, max_kib: int, large_mib: int) -> None:
    results = Results()
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as scratch:
        work = Path(scratch)
        cluster = Cluster(work / "cluster").start(nodes=2)
        try:
            cluster.wait_nodes_up()
            account = login(cluster.master.url)
            first, second = work / "first", work / "second"
            make_tree(first, files, size_kib * KIB, max_kib * KIB)
            seconds, done = timed_sync(account, first)
            rate = files / seconds
            sizes = f"{size_kib}-{max_kib}" if max_kib > size_kib else f"{size_kib}"
            workload = f"mdbx sync, first sync of {files} files of {sizes} KiB"
            print(f"{workload}: {rate:.0f} files/s {done}", flush=True)
            for reference, took in reference_seconds(first, work).items():
                theirs = files / took
                print(f"  {reference}: {theirs:.0f} files/s", flush=True)
                against = f"{workload}, against {reference}"
                ratio = results.figure(against, rate, theirs, "files/s")
                results.row(against, num(theirs, "files/s"), num(rate, "files/s"), ratio)
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
            if large_mib:
                large_file_edit(account, work / "large", large_mib, results)
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
