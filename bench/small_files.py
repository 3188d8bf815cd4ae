"""Many small files over many connections: GETs against nginx (wrk on both), durable
PUTs and the reference's multipart POSTs against a plain Python fsync loop, with nginx's
WebDAV PUT of as many distinct files (not synced) beside it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bench.disk import fsync_loop
from bench.load import KIB, MIB, node_blobs, run_wrk
from bench.procstat import CpuMeter
from bench.results import cpu_note, errors_note, num, rate_latency
from bench.rig import Rig

PUT_SCRIPT = Path(__file__).with_name("put_unique.lua")
MULTIPART_SCRIPT = Path(__file__).with_name("post_multipart.lua")
# Issue #7's targets: ratios to the reference in the same run, and a latency bound.
SMALL_GET_TARGET = 0.15
SMALL_GET_P99_MS = 50.0
MEDIUM_GET_TARGET = 0.6
SMALL_PUT_TARGET = 1.0


def get_small_and_medium(rig: Rig) -> None:
    """GET a 4 KiB and a 1 MiB file with wrk: nginx, then node 1's /retrieve."""
    opts, results = rig.opts, rig.results
    for size, unit in ((opts.small_kib * KIB, "req/s"), (opts.medium_kib * KIB, "MB/s")):
        label = f"{size // KIB} KiB" if size < MIB else f"{size // MIB} MiB"
        workload = f"GET {label}, {opts.connections} connections, {unit}"
        print(workload, flush=True)
        try:
            body = os.urandom(size)
            (rig.www / f"get-{size}.bin").write_bytes(body)
            digest = rig.put_node(body, f"get-{size}.bin")
            theirs = run_wrk(
                f"{rig.nginx_url}/get-{size}.bin", opts.threads, opts.connections, opts.duration
            )
            ours = run_wrk(
                f"{rig.node}/retrieve?hash={digest}", opts.threads, opts.connections, opts.duration
            )
            details = {
                "wrk": f"-t{opts.threads} -c{opts.connections} -d{opts.duration:g}s",
                "reference_transfer_per_s": theirs.transfer_per_s,
                "ours_transfer_per_s": ours.transfer_per_s,
                "reference_errors": theirs.errors,
                "ours_errors": ours.errors,
            }
            if unit == "req/s":
                ratio = results.figure(
                    workload, ours.requests_per_s, theirs.requests_per_s, "req/s", **details
                )
                results.figure(f"{workload}: p50", ours.p50_ms, theirs.p50_ms, "ms")
                results.figure(f"{workload}: p99", ours.p99_ms, theirs.p99_ms, "ms")
                results.row(
                    f"GET {label}, {opts.connections} connections, req/s and p50/p99",
                    "nginx "
                    + rate_latency(theirs.requests_per_s, "req/s", theirs.p50_ms, theirs.p99_ms)
                    + errors_note(theirs.errors),
                    "node `/retrieve` "
                    + rate_latency(ours.requests_per_s, "req/s", ours.p50_ms, ours.p99_ms)
                    + errors_note(ours.errors),
                    ratio,
                    f"≥ {SMALL_GET_TARGET}, p99 < {SMALL_GET_P99_MS:g} ms",
                    ratio is not None
                    and ratio >= SMALL_GET_TARGET
                    and ours.p99_ms < SMALL_GET_P99_MS,
                )
            else:
                # Bodies only: requests/s times the size (wrk's Transfer/sec adds headers).
                mine = ours.requests_per_s * size / 1e6
                ref = theirs.requests_per_s * size / 1e6
                ratio = results.figure(workload, mine, ref, "MB/s", **details)
                results.figure(f"{workload}: p50", ours.p50_ms, theirs.p50_ms, "ms")
                results.figure(f"{workload}: p99", ours.p99_ms, theirs.p99_ms, "ms")
                results.row(
                    workload,
                    f"nginx {num(ref, 'MB/s')} (p99 {num(theirs.p99_ms, 'ms')})"
                    + errors_note(theirs.errors),
                    f"node `/retrieve` {num(mine, 'MB/s')} (p99 {num(ours.p99_ms, 'ms')})"
                    + errors_note(ours.errors),
                    ratio,
                    f"≥ {MEDIUM_GET_TARGET}",
                    ratio is not None and ratio >= MEDIUM_GET_TARGET,
                )
        except Exception as error:
            results.fail(workload, error)


def put_small(rig: Rig) -> None:
    """PUT distinct 4 KiB files to node 1 over many connections (wrk), durably, against
    one Python thread creating files with fsync."""
    opts = rig.opts
    durable_small_writes(
        rig,
        f"PUT {opts.small_kib} KiB, {opts.put_concurrency} connections, files/s (durable)",
        f"{rig.node}/upload?replicate=0&register=1&name=small.bin",
        PUT_SCRIPT,
        "node PUT /upload (fsync, registered, replicate=0), wrk",
        SMALL_PUT_TARGET,
    )


def post_multipart_small(rig: Rig) -> None:
    """The reference's own upload (#22): multipart POST /upload of distinct 4 KiB files
    to node 1, durable, one copy (R = 1, as the Go original's single node), against the
    same fsync loop; the Go original's undurable rate is in BENCHMARKS.md's note."""
    opts = rig.opts
    durable_small_writes(
        rig,
        f"POST /upload multipart {opts.small_kib} KiB, {opts.put_concurrency} connections, "
        "files/s (durable, R = 1)",
        f"{rig.node}/upload?replicate=0",
        MULTIPART_SCRIPT,
        "node POST /upload multipart (fsync, registered, replicate=0), wrk",
        SMALL_PUT_TARGET,
    )


def durable_small_writes(
    rig: Rig, workload: str, url: str, script: Path, label: str, target: float
) -> None:
    """Distinct small writes to ``url`` with wrk and ``script``, checked against the
    blobs the node gained, next to the fsync loop in the same run."""
    opts, results = rig.opts, rig.results
    size = opts.small_kib * KIB
    print(workload, flush=True)
    try:
        stored_before = node_blobs(rig.node)
        with CpuMeter(rig.servers) as cpu:
            ours = run_wrk(
                url,
                opts.threads,
                opts.put_concurrency,
                opts.duration,
                script=script,
                script_args=[str(size)],
            )
        cpu_ms = cpu.ms_per(ours.requests)
        # Every answered write stored a new blob (bodies are distinct): check the node
        # agrees. Requests cut off by wrk's deadline may have been stored too.
        new_blobs = node_blobs(rig.node) - stored_before
        if not ours.requests <= new_blobs <= ours.requests + opts.put_concurrency:
            ours.errors.append(f"{new_blobs} blobs stored for {ours.requests} answered writes")
        limit = fsync_loop(rig.scratch / "fsync-loop", size, opts.duration, opts.put_max_files)
        nginx_rate = nginx_small_puts(rig, size, opts.put_concurrency)
        results.figure(
            f"{workload}: nginx WebDAV PUT",
            ours.requests_per_s,
            nginx_rate,
            "files/s",
            reference_label="nginx WebDAV PUT of distinct files, wrk, not synced",
        )
        ratio = results.figure(
            workload,
            ours.requests_per_s,
            limit.rate,
            "files/s",
            ours_label=label,
            reference_label="one Python thread: create temp, write, fsync, rename",
            ours_files=ours.requests,
            ours_errors=ours.errors,
            reference_files=limit.ops,
            cpu_ms_per_op=cpu_ms,
        )
        results.figure(f"{workload}: p50", ours.p50_ms, limit.percentile_ms(0.5), "ms")
        results.figure(f"{workload}: p99", ours.p99_ms, limit.percentile_ms(0.99), "ms")
        results.row(
            workload,
            f"Python fsync loop {num(limit.rate, 'files/s')}, "
            f"p50 {num(limit.percentile_ms(0.5), 'ms')}; nginx WebDAV PUT (not synced) "
            f"{num(nginx_rate, 'files/s')}",
            "node (wrk) "
            + rate_latency(ours.requests_per_s, "files/s", ours.p50_ms, ours.p99_ms)
            + cpu_note(cpu_ms)
            + errors_note(ours.errors),
            ratio,
            f"≥ {target:g}",
            ratio is not None and ratio >= target,
        )
    except Exception as error:
        results.fail(workload, error)


def nginx_small_puts(rig: Rig, size: int, connections: int) -> float:
    """nginx's WebDAV PUT of distinct ``size``-byte files, each to a path of its own,
    with wrk's threads and duration: files/s, counted on disk (a file
    nginx did not create is no file). nginx does not sync them: the figure is what
    the same HTTP load costs a server that writes files but keeps no promise."""
    opts = rig.opts
    folder = rig.www / "small-put"
    folder.mkdir(exist_ok=True)
    try:
        theirs = run_wrk(
            f"{rig.nginx_url}/",
            opts.threads,
            connections,
            opts.duration,
            script=PUT_SCRIPT,
            script_args=[str(size), folder.name],
        )
        created = sum(1 for entry in os.scandir(folder) if entry.stat().st_size == size)
        if created < theirs.requests:
            raise RuntimeError(f"nginx answered {theirs.requests} PUTs, created {created} files")
        return theirs.requests_per_s
    finally:
        shutil.rmtree(folder, ignore_errors=True)
