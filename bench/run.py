"""``make bench`` (issue #7): Mini-Dropbox next to nginx and the disk's limits, in one run.

Starts a cluster as deployed (``mdbx serve``: gunicorn + gevent, master + 2 nodes) and a
private nginx (Debian's, ``sendfile on``, WebDAV PUT) serving the same bytes from the same
disk, measures the raw limits of that disk (dd with fdatasync; a single-threaded Python
create/write/fsync/rename loop), drives load with wrk, curl and small Python clients, and
prints one table, a row per workload of each family:

- ``big_files``: one big file in one stream, PUT against dd, GET against nginx (node
  ``/retrieve``; master ``/download`` followed to a node, and streamed with ``proxy=1``);
- ``small_files``: GET 4 KiB and 1 MiB with wrk against nginx; PUT 4 KiB and the
  reference's multipart POST over many connections, durable, against the fsync loop;
- ``account_files``: ``mdbx put`` of a big file to a user's tree (R = 2, a cluster of its
  own) against dd, and ``mdbx get`` against nginx;
- ``weed``: ``weed benchmark``-style 1 KiB writes (``/assign`` + upload) then reads;
- memory (here): the peak RSS of the largest process of each role and of nginx, and each
  role's growth from the first minute to the last.

Ratios are Mini-Dropbox / reference. The figures go to bench/results/latest.json, and with
--write-md to the section of BENCHMARKS.md that opens it. Client and servers share the
machine's cores.

    .venv/bin/python -m bench [--duration 10] [--big-mib 256] [--write-md] ...
"""

from __future__ import annotations

import datetime
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from app.config import role_defaults
from bench import account_files, big_files, small_files, weed
from bench.load import MIB, wrk_binary
from bench.machine import filesystem, machine, versions
from bench.nginx import Nginx
from bench.procstat import RssSampler
from bench.results import BENCHMARKS, HEADING, REPO, Results, markdown, num, write_section
from bench.rig import Options, Rig
from localcluster.launcher import Cluster

RSS_LIMIT = 150e6  # bytes; issue #7: no process above it
ROLES = ("master", "node 1", "node 2")


def run_workloads(rig: Rig) -> None:
    """Every family in turn; a failed workload is recorded and the others still run."""
    opts = rig.opts
    node_hash = big_files.put_big_to_node(rig)
    master_hash = big_files.put_big_to_master(rig)
    big_files.get_big(rig, node_hash, master_hash)
    # Issue #21's rows: the account commands, on a cluster of their own with R = 2.
    account_files.put_and_get(
        rig.www, rig.nginx_url, rig.scratch, opts.account_mib, opts.repeat, rig.results
    )
    small_files.get_small_and_medium(rig)
    small_files.put_small(rig)
    small_files.post_multipart_small(rig)
    weed.weed_style(rig)


def bench(opts: Options, scratch: Path, results: Results) -> dict[str, Any]:
    """Start the cluster and nginx, run every workload, add the memory rows; return the
    setup notes for the report."""
    big = opts.big_mib * MIB
    max_upload = max(300 * MIB, big + MIB)
    setup = {
        "cluster": "master + 2 nodes via `mdbx serve` (gunicorn + gevent, default workers: "
        f"{role_defaults('master')['WORKERS']} for the master, "
        f"{role_defaults('node')['WORKERS']} per node), "
        f"MDBX_REPLICATION={opts.replication} on the master, "
        f"MDBX_MAX_UPLOAD_SIZE={max_upload} ({max_upload // MIB} MiB) on node 1 only "
        "(default 10 MiB) so that the big PUT goes to one node; everything else default "
        "(access log on the master, off on the nodes)",
        "nginx": "private Debian nginx, sendfile on, WebDAV PUT, worker_processes auto",
        "disk": filesystem(scratch),
        "client": "wrk, curl and Python threads on the same cores as the servers",
    }
    print("setup:", json.dumps(setup, indent=2), flush=True)
    www = scratch / "www"
    www.mkdir()
    (scratch / "nginx-tmp").mkdir()
    cluster = Cluster(scratch / "cluster", env={"MDBX_REPLICATION": str(opts.replication)})
    try:
        cluster.master.start()
        # The launcher turns every role's access log on; a node's default is off.
        deployed_node = {"MDBX_ACCESS_LOG": "false"}
        node1 = cluster.add_node(env={**deployed_node, "MDBX_MAX_UPLOAD_SIZE": str(max_upload)})
        cluster.add_node(env=deployed_node)
        cluster.wait_nodes_up()
        roles = dict(zip(ROLES, (cluster.master, node1, cluster.nodes[1]), strict=True))
        with Nginx(www, tmp_dir=scratch / "nginx-tmp") as nginx:
            pids = {label: role.process.pid for label, role in roles.items() if role.process}
            with RssSampler({**pids, "nginx": nginx.pid}, max_seconds=3 * 3600) as rss:
                run_workloads(Rig(opts, scratch, www, nginx.url, cluster, pids, results))
            peaks = rss.peaks()
            growth = rss.growth()
    finally:
        cluster.stop()
    memory_rows(results, peaks, growth)
    return setup


def memory_rows(
    results: Results, peaks: dict[str, dict[str, Any]], growth: dict[str, dict[str, Any]]
) -> None:
    """Each role's largest process against nginx's, and its tree's first and last minute."""
    ref = peaks.get("nginx", {})
    nginx_mb = ref.get("max_process_bytes", 0) / 1e6
    nginx_tree = ref.get("tree_bytes", 0) / 1e6
    for label in ROLES:
        ours = peaks.get(label, {})
        mine = ours.get("max_process_bytes", 0) / 1e6
        tree = ours.get("tree_bytes", 0) / 1e6
        ratio = results.figure(
            f"peak RSS, largest process: {label}",
            mine,
            nginx_mb,
            "MB",
            tree_mb=tree,
            processes=ours.get("processes", 0),
            reference_tree_mb=nginx_tree,
            over_150_mb=mine * 1e6 > RSS_LIMIT,
        )
        results.row(
            f"peak RSS of the largest process: {label} (whole tree)",
            f"nginx {num(nginx_mb, 'MB')} ({num(nginx_tree, 'MB')})",
            f"{num(mine, 'MB')} ({num(tree, 'MB')}, {ours.get('processes', 0)} processes)",
            ratio,
            f"< {RSS_LIMIT / 1e6:.0f} MB",
            0 < mine * 1e6 < RSS_LIMIT,
        )
        first = growth.get(label, {}).get("first_minute_bytes", 0) / 1e6
        last = growth.get(label, {}).get("last_minute_bytes", 0) / 1e6
        growth_ratio = results.figure(
            f"RSS growth, first to last minute: {label}", last, first, "MB"
        )
        results.row(
            f"RSS of the whole tree, first minute → last minute: {label}",
            "",
            f"{num(first, 'MB')} → {num(last, 'MB')}",
            growth_ratio,
            "no growth (≤ 1.0)",
            None if growth_ratio is None else growth_ratio <= 1.0,
        )


@click.command()
@click.option(
    "--duration", default=10.0, show_default=True, help="Seconds per wrk run and per 4 KiB PUT run."
)
@click.option("--threads", default=2, show_default=True, help="wrk threads.")
@click.option("--connections", default=64, show_default=True, help="wrk connections.")
@click.option("--small-kib", default=4, show_default=True, help="Small file size (KiB).")
@click.option("--medium-kib", default=1024, show_default=True, help="Medium GET size (KiB).")
@click.option("--big-mib", default=256, show_default=True, help="Single-stream file (MiB).")
@click.option(
    "--account-mib",
    default=200,
    show_default=True,
    help="The file of `mdbx put` / `mdbx get` (MiB).",
)
@click.option(
    "--repeat", default=5, show_default=True, help="Single-stream repetitions (median kept)."
)
@click.option(
    "--put-concurrency", default=64, show_default=True, help="wrk connections for the small PUTs."
)
@click.option(
    "--put-max-files", default=200_000, show_default=True, help="Cap on the fsync loop's files."
)
@click.option("--replication", default=1, show_default=True, help="MDBX_REPLICATION (R).")
@click.option("--weed-files", default=20_000, show_default=True, help="weed-style files.")
@click.option("--weed-kib", default=1, show_default=True, help="weed-style file size (KiB).")
@click.option("--weed-concurrency", default=16, show_default=True, help="weed-style clients.")
@click.option("--weed-seconds", default=180.0, show_default=True, help="Cap per weed phase (s).")
@click.option("--write-md/--no-write-md", default=False, help="Write the BENCHMARKS.md section.")
def main(write_md: bool, **options: Any) -> None:
    """Run every workload once and print the table (see the module's docstring)."""
    opts = Options(**options)
    started = time.monotonic()
    wrk_binary()
    report: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "versions": versions(),
        "options": dict(options),
    }
    print(json.dumps(report, indent=2), flush=True)
    results = Results()
    report["setup"] = {}
    with tempfile.TemporaryDirectory(prefix=".bench-", dir=REPO) as scratch:
        try:
            report["setup"] = bench(opts, Path(scratch), results)
        except Exception as error:  # the cluster or nginx did not start: nothing measured
            results.fail("setup (cluster, nginx)", error)
    report["seconds"] = time.monotonic() - started
    report["failures"] = results.failures
    saved = results.save("latest", report)
    table = results.table()
    print(f"\n{table}\n")
    print(
        f"{len(results.failures)} failed workloads; {report['seconds']:.0f} s; figures in {saved}"
    )
    if write_md:
        write_section(markdown(report, table))
        print(f"wrote the section {HEADING!r} of {BENCHMARKS}")
    if results.failures:
        sys.exit(1)
