"""SeaweedFS ``weed benchmark``-style small files: writes (``POST /assign`` + a node
upload), then reads by hash, from Python clients and from wrk; beside them, in the same
run, the fsync loop and nginx's WebDAV PUT of as many connections (#22), and nginx's GET
of a file of the same size with wrk's same connections."""

from __future__ import annotations

import hashlib
import json
import os
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from bench.disk import fsync_loop
from bench.load import KIB, Client, Load, expect_ok, run_load, run_wrk
from bench.procstat import CpuMeter
from bench.results import Results, cpu_note, errors_note, num, rate_latency
from bench.rig import Options, Rig
from bench.small_files import nginx_small_puts

GET_SCRIPT = Path(__file__).with_name("get_paths.lua")
# Issue #7's targets: a tenth of SeaweedFS's published laptop figures, on 2 cores.
WRITE_TARGET = 1500.0
READ_TARGET = 4700.0
P99_MS = 50.0


def weed_style(rig: Rig) -> None:
    """Write ``weed_files`` small files, then read every one back (bytes checked)."""
    opts, results = rig.opts, rig.results
    weed = (
        f"{opts.weed_kib} KiB write then read, c={opts.weed_concurrency}, {opts.weed_files:,} files"
    )
    print(weed, flush=True)
    written: list[tuple[str, str] | None] = [None] * opts.weed_files
    size = opts.weed_kib * KIB
    master = rig.master
    try:

        def write(client: Client, i: int) -> None:
            status, reply = client.request("POST", f"{master}/assign")
            expect_ok(status, reply, "POST /assign")
            plan = json.loads(reply)
            body = os.urandom(size)
            digest = hashlib.sha256(body).hexdigest()
            params = {"hash": digest, "name": f"w{i}", "replicate": "0"}
            if plan["chain"]:
                params["chain"] = ",".join(plan["chain"])
            url = f"{plan['upload_url']}?{urlencode(params)}"
            expect_ok(*client.request("PUT", url, body), "PUT /upload")
            written[i] = (plan["upload_url"].removesuffix("/upload"), digest)

        with CpuMeter(rig.servers) as cpu:
            load = run_load(opts.weed_concurrency, opts.weed_seconds, opts.weed_files, write)
        limit = fsync_loop(rig.scratch / "fsync-loop", size, opts.duration, opts.put_max_files)
        nginx_rate = nginx_small_puts(rig, size, opts.weed_concurrency)
        _row(
            results,
            f"{weed}: write",
            "`/assign` + node `/upload`",
            load,
            opts.weed_files,
            opts,
            cpu.ms_per(load.ops),
            WRITE_TARGET,
            (
                f"Python fsync loop {num(limit.rate, 'files/s')}; "
                f"nginx WebDAV PUT (not synced, c={opts.weed_concurrency}) "
                f"{num(nginx_rate, 'files/s')}",
                limit.rate,
            ),
        )
    except Exception as error:
        results.fail(f"{weed}: write", error)
    stored = [item for item in written if item is not None]
    try:
        if not stored:
            raise RuntimeError("no file was written")
        random.shuffle(stored)

        def read(client: Client, i: int) -> None:
            base, digest = stored[i]
            status, body = client.request("GET", f"{base}/retrieve?hash={digest}")
            expect_ok(status, body, "GET /retrieve")
            if hashlib.sha256(body).hexdigest() != digest:
                raise RuntimeError(f"GET /retrieve?hash={digest}: wrong bytes")

        with CpuMeter(rig.servers) as cpu:
            load = run_load(opts.weed_concurrency, opts.weed_seconds, len(stored), read)
        _row(
            results,
            f"{weed}: read",
            "node `/retrieve` by hash (Python clients, every file hashed)",
            load,
            len(stored),
            opts,
            cpu.ms_per(load.ops),
            None,  # the clients' GIL caps this row: the wrk row below carries the target
        )
    except Exception as error:
        results.fail(f"{weed}: read", error)
    try:
        if not stored:
            raise RuntimeError("no file was written")
        _reads_by_wrk(rig, weed, stored, results)
    except Exception as error:
        results.fail(f"{weed}: read, wrk", error)


def _reads_by_wrk(rig: Rig, weed: str, stored: list[tuple[str, str]], results: Results) -> None:
    """The same reads with wrk: one run per node at once, the connections split between
    them. On 2 cores the Python clients above spend as much CPU as the nodes serving them
    (their GIL caps them at one core); wrk costs a fraction of that, so this row shows
    what the nodes can serve. The bytes were checked by the Python pass. nginx serves one
    file of the same size to wrk's same connections."""
    opts, scratch, www, nginx_url = rig.opts, rig.scratch, rig.www, rig.nginx_url
    by_node: dict[str, list[str]] = {}
    for base, digest in stored:
        by_node.setdefault(base, []).append(f"/retrieve?hash={digest}")
    per_node = max(1, opts.weed_concurrency // len(by_node))
    lists = []
    for i, paths in enumerate(by_node.values()):
        listing = scratch / f"weed-paths-{i}.txt"
        listing.write_text("\n".join(paths) + "\n")
        lists.append(listing)
    with ThreadPoolExecutor(len(by_node)) as pool:
        runs = list(
            pool.map(
                lambda item: run_wrk(
                    item[0], 1, per_node, opts.duration, GET_SCRIPT, [str(item[1])]
                ),
                zip(by_node, lists, strict=True),
            )
        )
    rate = sum(run.requests_per_s for run in runs)
    nginx_file = www / "weed-get.bin"
    nginx_file.write_bytes(os.urandom(opts.weed_kib * KIB))
    theirs = run_wrk(f"{nginx_url}/{nginx_file.name}", 2, opts.weed_concurrency, opts.duration)
    # The slower node's percentiles: an upper bound for the whole.
    p50, p99 = max(run.p50_ms for run in runs), max(run.p99_ms for run in runs)
    errors = [error for run in runs for error in run.errors]
    workload = f"{weed}: read, wrk"
    ratio = results.figure(
        workload,
        rate,
        theirs.requests_per_s,
        "ops/s",
        errors=errors,
        nodes=len(runs),
        reference_label=f"nginx GET of one {opts.weed_kib} KiB file, wrk",
    )
    results.figure(f"{workload}: p50", p50, theirs.p50_ms, "ms")
    results.figure(f"{workload}: p99", p99, theirs.p99_ms, "ms")
    results.row(
        workload,
        f"nginx (one file, wrk, {opts.weed_concurrency} connections) "
        + rate_latency(theirs.requests_per_s, "ops/s", theirs.p50_ms, theirs.p99_ms),
        f"node `/retrieve` by hash (wrk, {per_node} connections to each of {len(runs)} "
        f"nodes, {opts.duration:g} s) {rate_latency(rate, 'ops/s', p50, p99)}"
        + errors_note(errors),
        ratio,
        f"≥ {READ_TARGET:,.0f}/s, p99 < {P99_MS:g} ms",
        rate >= READ_TARGET and p99 < P99_MS and not errors,
    )


def _row(
    results: Results,
    workload: str,
    path: str,
    load: Load,
    planned: int,
    opts: Options,
    cpu_ms: dict[str, float],
    target: float | None,
    reference: tuple[str, float] | None = None,
) -> None:
    """One row of the Python clients' load; ``reference`` is the reference column's text
    and the rate the ratio is to."""
    if not load.ops:
        raise RuntimeError(f"no operation succeeded: {'; '.join(load.first_errors)}")
    p50, p99 = load.percentile_ms(0.5), load.percentile_ms(0.99)
    ratio = results.figure(
        workload,
        load.rate,
        reference[1] if reference else None,
        "ops/s",
        files=load.ops,
        target_files=planned,
        seconds=load.seconds,
        errors=load.errors,
        first_errors=load.first_errors,
        replication=opts.replication,
        cpu_ms_per_op=cpu_ms,
    )
    results.figure(f"{workload}: p50", p50, None, "ms")
    results.figure(f"{workload}: p99", p99, None, "ms")
    capped = " (time limit reached)" if load.ops + load.errors < planned else ""
    results.row(
        workload,
        reference[0] if reference else "—",
        f"{path} {rate_latency(load.rate, 'ops/s', p50, p99)}, "
        f"{load.ops:,} in {load.seconds:.1f} s{capped}"
        + cpu_note(cpu_ms)
        + errors_note(load.errors, load.first_errors),
        ratio,
        f"≥ {target:,.0f}/s, p99 < {P99_MS:g} ms" if target else "",
        None if target is None else load.rate >= target and p99 < P99_MS and not load.errors,
    )
