"""``mdbx put`` and ``mdbx get`` of one big file of a user's own tree (issue #21), as a
user's shell runs them (the console script, its start-up included), on a cluster of its
own with R = 2 (a master and two nodes, as deployed), side by side in the same run with:

- ``dd bs=4M conv=fdatasync`` of the same file: one durable copy on the same disk (the
  put writes two, one on each node);
- nginx serving the same file to ``curl -o /dev/null`` (the get also writes the file,
  checks its hash and fsyncs it; ``curl -o FILE`` is recorded beside it).

Each put sends a fresh random file (nothing deduplicated) to a new path. In ``make
bench`` it runs beside the main cluster with that run's nginx; alone it starts both:

    .venv/bin/python -m bench.account_files [--mib 200] [--repeat 3]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

from bench.disk import dd_seconds, random_file
from bench.load import MIB, curl_seconds
from bench.nginx import Nginx
from bench.results import REPO, Results, spread
from bench.sync import new_user_token
from localcluster.launcher import Cluster

# Issue #21's goals, as ratios to the reference measured in the same run.
PUT_TARGET = 0.5
GET_TARGET = 0.5
REPLICATION = 2
MDBX = Path(sys.executable).with_name("mdbx")
# Seconds one command may take (200 MiB at 2 MB/s).
COMMAND_TIMEOUT = 100


class Shell:
    """``mdbx`` run as a logged-in user's shell runs it, with this checkout's code."""

    def __init__(self, master: str, token: str, config: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MDBX_")}
        self.env.update(
            MDBX_MASTER=master,
            MDBX_TOKEN=token,
            XDG_CONFIG_HOME=str(config),  # uploads begun are remembered there
            PYTHONPATH=str(REPO),
        )

    def seconds(self, *args: str) -> float:
        """Run ``mdbx --quiet ARGS``; the wall time, start-up included."""
        began = time.perf_counter()
        done = subprocess.run(
            [str(MDBX), "--quiet", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
        seconds = time.perf_counter() - began
        if done.returncode != 0:
            raise RuntimeError(f"mdbx {' '.join(args)} exited {done.returncode}: {done.stderr}")
        return seconds


def curl_to_file(url: str, scratch: Path) -> float:
    """``curl -o FILE URL`` (no fsync); the seconds."""
    copy = scratch / "curl.out"
    began = time.perf_counter()
    subprocess.run(["curl", "-sS", "--fail", "-o", str(copy), url], check=True, timeout=600)
    seconds = time.perf_counter() - began
    copy.unlink()
    return seconds


def put_and_get(
    www: Path, nginx_url: str, scratch: Path, mib: int, repeat: int, results: Results
) -> None:
    """The two rows: ``mdbx put`` against dd, ``mdbx get`` against nginx."""
    size = mib * MIB
    workload = f"`mdbx put` / `mdbx get` of {mib} MiB to your own tree (R = {REPLICATION})"
    print(workload, flush=True)
    cluster = Cluster(scratch / "account-cluster", env={"MDBX_REPLICATION": str(REPLICATION)})
    try:
        cluster.start(nodes=2)
        shell = Shell(cluster.master.url, new_user_token(cluster.master.url), scratch / "config")
        dd, put, served, served_file, get = [], [], [], [], []
        for run in range(repeat):
            source = www / f"account-{run}.bin"
            random_file(source, size)
            dd.append(size / dd_seconds(source, scratch / "dd.out") / 1e6)
            (scratch / "dd.out").unlink()
            put.append(size / shell.seconds("put", str(source), "/bench") / 1e6)
            served.append(
                size / curl_seconds(f"{nginx_url}/{source.name}", expect_bytes=size) / 1e6
            )
            served_file.append(size / curl_to_file(f"{nginx_url}/{source.name}", scratch) / 1e6)
            fetched = scratch / "got.bin"
            get.append(size / shell.seconds("get", f"/bench/{source.name}", str(fetched)) / 1e6)
            if fetched.stat().st_size != size:
                raise RuntimeError(f"mdbx get wrote {fetched.stat().st_size} bytes, not {size}")
            fetched.unlink()
            source.unlink()
            print(
                f"  run {run + 1}: dd {dd[-1]:,.0f}, mdbx put {put[-1]:,.0f}; nginx "
                f"{served[-1]:,.0f} (to a file {served_file[-1]:,.0f}), "
                f"mdbx get {get[-1]:,.0f} MB/s",
                flush=True,
            )
    except Exception as error:
        results.fail(workload, error)
        return
    finally:
        cluster.stop()
    rows = (
        (f"`mdbx put` {mib} MiB, MB/s (R = {REPLICATION}, durable)", put, dd, "dd fdatasync"),
        (f"`mdbx get` {mib} MiB, MB/s (hash checked, fsynced)", get, served, "nginx"),
    )
    for (name, ours, reference, label), target in zip(rows, (PUT_TARGET, GET_TARGET), strict=True):
        ratio = results.figure(
            name,
            statistics.median(ours),
            statistics.median(reference),
            "MB/s",
            ours_samples=ours,
            reference_samples=reference,
            **({"nginx_to_a_file_samples": served_file} if label == "nginx" else {}),
        )
        results.row(
            name,
            f"{label} {spread(reference, 'MB/s')}",
            f"`mdbx` {spread(ours, 'MB/s')}",
            ratio,
            f"≥ {target}",
            ratio is not None and ratio >= target,
        )


@click.command()
@click.option("--mib", default=200, show_default=True, help="The file's size (MiB).")
@click.option("--repeat", default=3, show_default=True, help="Repetitions (median kept).")
def main(mib: int, repeat: int) -> None:
    """Run the two rows alone, with an nginx of their own (see the module's docstring)."""
    results = Results()
    with tempfile.TemporaryDirectory(prefix=".bench-", dir=REPO) as scratch:
        root = Path(scratch)
        (root / "nginx-tmp").mkdir()
        with Nginx(root / "www", tmp_dir=root / "nginx-tmp") as nginx:
            put_and_get(nginx.root, nginx.url, root, mib, repeat, results)
    print(f"\n{results.table()}\n")
    if results.failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
