"""`make bench` (issue #7): Mini-Dropbox next to nginx and the disk's limits, in one run.

Starts a cluster as deployed (`mdbx serve`: gunicorn + gevent, master + 2 nodes) and a
private nginx (Debian's, `sendfile on`, WebDAV PUT) serving the same bytes from the same
disk, measures the raw limits of that disk (dd with fdatasync; a single-threaded Python
create/write/fsync/rename loop), drives load with `wrk` and small Python clients, and
prints one table:

- GET 4 KiB and 1 MiB with wrk (same threads, connections, duration): nginx vs a node's
  `/retrieve`;
- GET of a big file, one stream (curl): nginx vs node `/retrieve` and master `/download`
  of a multi-block file (followed to a node holding every block; and with `&proxy=1`,
  streamed by the master, which checks every block);
- PUT of a big file, one stream, durable: `dd conv=fdatasync` vs node `PUT /upload`
  (and, for scale, the master's `PUT /upload/NAME`);
- PUT 4 KiB, many connections, durable: the Python fsync loop vs node `PUT /upload`;
- `weed benchmark`-style 1 KiB writes (`POST /assign` + upload) then reads by hash;
- the peak RSS of the largest process of the master, each node and nginx over the run.

Ratios are Mini-Dropbox / reference. The figures go to bench/results/latest.json, and with
--write-md to a dated section of BENCHMARKS.md (replaced on each run). Client and servers
share the machine's cores.

    .venv/bin/python bench/bench.py [--duration 10] [--big-mib 256] [--write-md] ...
"""

from __future__ import annotations

import datetime
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen

import click
import pycurl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from nginx import Nginx, apt_installed, nginx_version  # noqa: E402
from procstat import CpuMeter, RssSampler  # noqa: E402

from app.config import role_defaults  # noqa: E402
from tests.support.cluster import Cluster  # noqa: E402

KIB = 1024
MIB = 1024 * KIB
RESULTS = REPO / "bench" / "results"
BENCHMARKS = REPO / "BENCHMARKS.md"
HEADING = "## `make bench` (issue #7)"
RSS_LIMIT = 150e6  # bytes; a process above it is flagged
WRK = Path("/usr/bin/wrk")
PUT_SCRIPT = Path(__file__).with_name("put_unique.lua")
GET_SCRIPT = Path(__file__).with_name("get_paths.lua")
CLIENT_TIMEOUT = 60.0  # seconds a Python client request may take
MAX_CONSECUTIVE_ERRORS = 50  # a client thread gives up after this many failures in a row


# ----- tools -------------------------------------------------------------------------


def wrk_binary() -> Path:
    """Return wrk, installing Debian's ``wrk`` package if it is missing."""
    return apt_installed("wrk", WRK)


def tool_version(command: list[str], pattern: str) -> str:
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except OSError:
        return "missing"
    match = re.search(pattern, out.stdout + out.stderr)
    return match.group(1) if match else "unknown"


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    transfer_per_s: str
    errors: list[str]


_TIME_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _wrk_ms(text: str, label: str) -> float:
    match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.MULTILINE)
    if not match:
        raise RuntimeError(f"no {label} latency in wrk's output:\n{text}")
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]


def run_wrk(
    url: str,
    threads: int,
    connections: int,
    seconds: float,
    script: Path | None = None,
    script_args: list[str] | None = None,
) -> WrkResult:
    command = [
        str(wrk_binary()),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "--latency",
        *(["-s", str(script)] if script else []),
        url,
        *(["--", *script_args] if script_args else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    out = done.stdout
    if done.returncode != 0:
        raise RuntimeError(f"wrk exited {done.returncode}: {done.stderr.strip()}\n{out}")
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    transfer = re.search(r"Transfer/sec:\s+(\S+)", out)
    if not (rate and count and transfer):
        raise RuntimeError(f"cannot parse wrk's output:\n{out}")
    errors = []
    socket_errors = re.search(r"Socket errors:.*", out)
    if socket_errors:
        errors.append(socket_errors.group(0))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non2xx:
        errors.append(non2xx.group(0))
    if int(count.group(1)) == 0:
        raise RuntimeError(f"wrk completed no request: {'; '.join(errors)}\n{out}")
    return WrkResult(
        requests_per_s=float(rate.group(1)),
        p50_ms=_wrk_ms(out, "50%"),
        p99_ms=_wrk_ms(out, "99%"),
        requests=int(count.group(1)),
        transfer_per_s=transfer.group(1),
        errors=errors,
    )


def curl_seconds(*args: str, expect_bytes: int) -> float:
    """Run one curl transfer (no body kept); return its time, checking the bytes moved."""
    command = [
        "curl",
        "-sS",
        "--fail",
        "-L",
        "-o",
        "/dev/null",
        "-H",
        "Expect:",  # no 100-continue wait before a PUT body
        "-w",
        "%{time_total} %{size_upload} %{size_download}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"curl {' '.join(args)} exited {done.returncode}: {done.stderr}")
    total, uploaded, downloaded = done.stdout.split()
    moved = max(int(float(uploaded)), int(float(downloaded)))
    if moved != expect_bytes:
        raise RuntimeError(f"curl {' '.join(args)} moved {moved} bytes, not {expect_bytes}")
    return float(total)


def dd_seconds(source: Path, target: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        ["dd", f"if={source}", f"of={target}", "bs=4M", "conv=fdatasync", "status=none"],
        check=True,
        timeout=600,
    )
    return time.perf_counter() - started


def random_file(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path``, durably; return their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(left, 4 * MIB))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
        out.flush()
        # Written back now, so that no later measurement pays for this file's writeback.
        os.fsync(out.fileno())
    return digest.hexdigest()


# ----- Python load client --------------------------------------------------------------


class Client:
    """Keep-alive HTTP/1.1 connections for one thread (libcurl's, one per host).

    The load clients share the machine's two cores with the cluster: with http.client
    the weed-style writer's 16 threads took 0.35 ms of CPU per write (two requests),
    more than a node; with libcurl they take 0.2 ms.
    """

    def __init__(self) -> None:
        self._curl = pycurl.Curl()

    def request(self, method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
        curl = self._curl
        received = io.BytesIO()
        curl.reset()  # options only: libcurl keeps the live connections
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.TIMEOUT_MS, int(CLIENT_TIMEOUT * 1000))
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.WRITEDATA, received)
        if method != "GET":
            curl.setopt(pycurl.CUSTOMREQUEST, method)
            # No "Expect: 100-continue": a request body goes at once, as other clients send it.
            curl.setopt(pycurl.HTTPHEADER, ["Expect:", "Content-Type: application/octet-stream"])
            curl.setopt(pycurl.POSTFIELDSIZE_LARGE, len(body or b""))
            curl.setopt(pycurl.POSTFIELDS, body or b"")
        curl.perform()
        return int(curl.getinfo(pycurl.RESPONSE_CODE)), received.getvalue()

    def close(self) -> None:
        self._curl.close()


def node_blobs(node_url: str) -> int:
    """The number of blobs a node holds, from its /health."""
    with urlopen(f"{node_url}/health", timeout=CLIENT_TIMEOUT) as reply:
        return int(json.load(reply)["files"])


def expect_ok(status: int, body: bytes, what: str) -> None:
    if status != 200:
        raise RuntimeError(f"{what}: HTTP {status} {body[:300]!r}")


@dataclass
class Load:
    ops: int
    seconds: float
    latencies: list[float]
    errors: int
    first_errors: list[str]

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def percentile_ms(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000


def run_load(
    concurrency: int, seconds: float, max_ops: int, op: Callable[[Client, int], None]
) -> Load:
    """Run ``op(client, i)`` for i < ``max_ops`` from ``concurrency`` threads, for at most
    ``seconds`` (plus the requests in flight at the deadline); count the successes."""
    lock = threading.Lock()
    next_op = [0]
    latencies: list[float] = []
    errors = [0]
    first_errors: list[str] = []
    deadline = time.monotonic() + seconds

    def worker() -> None:
        client = Client()
        consecutive = 0
        try:
            while time.monotonic() < deadline and consecutive < MAX_CONSECUTIVE_ERRORS:
                with lock:
                    if next_op[0] >= max_ops:
                        return
                    i = next_op[0]
                    next_op[0] += 1
                started = time.perf_counter()
                try:
                    op(client, i)
                except Exception as error:
                    consecutive += 1
                    with lock:
                        errors[0] += 1
                        if len(first_errors) < 5:
                            first_errors.append(f"{type(error).__name__}: {error}")
                    continue
                elapsed = time.perf_counter() - started
                consecutive = 0
                with lock:
                    latencies.append(elapsed)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + CLIENT_TIMEOUT * 2)
    elapsed = time.monotonic() - started
    return Load(len(latencies), elapsed, latencies, errors[0], first_errors)


def fsync_loop(directory: Path, size: int, seconds: float, max_files: int) -> Load:
    """The durable small-file limit: one thread creating files (create temp, write, fsync,
    rename) for ``seconds`` or ``max_files``."""
    directory.mkdir(parents=True, exist_ok=True)
    latencies = []
    started = time.monotonic()
    deadline = started + seconds
    n = 0
    while time.monotonic() < deadline and n < max_files:
        began = time.perf_counter()
        body = os.urandom(size)
        temp = directory / f".tmp-{n}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, directory / f"f{n}")
        latencies.append(time.perf_counter() - began)
        n += 1
    return Load(n, time.monotonic() - started, latencies, 0, [])


# ----- results -------------------------------------------------------------------------


@dataclass
class Results:
    """The JSON entries (one per figure) and the printed table's rows."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)

    def figure(
        self,
        workload: str,
        ours: float | None,
        reference: float | None,
        unit: str,
        **details: Any,
    ) -> float | None:
        ratio = ours / reference if ours is not None and reference else None
        self.entries.append(
            {
                "workload": workload,
                "ours": ours,
                "reference": reference,
                "ratio": ratio,
                "unit": unit,
                **details,
            }
        )
        return ratio

    def row(self, workload: str, reference: str, ours: str, ratio: float | str | None) -> None:
        if isinstance(ratio, float):
            ratio = f"{ratio:.3f}" if ratio < 0.1 else f"{ratio:.2f}"
        self.rows.append((workload, reference, ours, ratio or "—"))

    def fail(self, workload: str, error: BaseException) -> None:
        text = f"{type(error).__name__}: {error}".strip()
        self.failures.append({"workload": workload, "error": text})
        self.rows.append((workload, "", f"**failed**: {text.splitlines()[0][:200]}", "—"))
        print(f"  FAILED {workload}: {text}", flush=True)
        traceback.print_exc()

    def table(self) -> str:
        lines = [
            "| workload | nginx / limit | Mini-Dropbox | ratio |",
            "|---|---|---|---|",
        ]
        lines += [f"| {' | '.join(row)} |" for row in self.rows]
        return "\n".join(lines)


def num(value: float, unit: str = "") -> str:
    if value != value:  # nan
        return "n/a"
    text = f"{value:,.0f}" if value >= 100 else f"{value:,.1f}" if value >= 10 else f"{value:.2f}"
    return f"{text} {unit}".strip()


def spread(samples: list[float], unit: str) -> str:
    """The median, and the range when there are several samples."""
    median = num(statistics.median(samples), unit)
    if len(samples) < 2:
        return median
    return f"{median} ({num(min(samples))}–{num(max(samples))})"


def rate_latency(rate: float, unit: str, p50: float, p99: float) -> str:
    return f"{num(rate, unit)}, p50 {num(p50, 'ms')}, p99 {num(p99, 'ms')}"


def cpu_note(ms_per_op: dict[str, float]) -> str:
    """Where an operation's CPU went, by process tree (the client: the load generators)."""
    spent = ", ".join(f"{label} {ms:.2f}" for label, ms in ms_per_op.items())
    return f"; CPU ms per op: {spent}"


def errors_note(errors: list[str] | int, first: list[str] | None = None) -> str:
    if isinstance(errors, int):
        if not errors:
            return ""
        return f" (**{errors} errors**: {'; '.join(first or [])[:200]})"
    return f" ({'; '.join(errors)})" if errors else ""


# ----- the environment ------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    os_release = re.search(r'PRETTY_NAME="([^"]+)"', Path("/etc/os-release").read_text())
    return {
        "nproc": os.cpu_count(),
        "cpu": model.group(1).strip() if model else "unknown",
        "kernel": platform.release(),
        "os": os_release.group(1) if os_release else "unknown",
        "memory_gib": round(int(meminfo.group(1)) / MIB, 1) if meminfo else None,
    }


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("gunicorn", "gevent", "flask"):
        found[package] = importlib.metadata.version(package)
    found["nginx"] = nginx_version()
    found["wrk"] = tool_version([str(wrk_binary()), "-v"], r"wrk (\S+)")
    found["curl"] = tool_version(["curl", "--version"], r"curl (\S+)")
    return found


def filesystem(path: Path) -> str:
    """The filesystem type and device of ``path`` (``df -T``)."""
    out = (
        subprocess.run(
            ["df", "-T", str(path)], capture_output=True, text=True, check=True, timeout=30
        )
        .stdout.splitlines()[-1]
        .split()
    )
    return f"{out[1]} on {out[0]}"


# ----- the run -------------------------------------------------------------------------


@dataclass
class Options:
    duration: float
    threads: int
    connections: int
    small_kib: int
    medium_kib: int
    big_mib: int
    repeat: int
    put_concurrency: int
    put_max_files: int
    replication: int
    weed_files: int
    weed_kib: int
    weed_concurrency: int
    weed_seconds: float


def bench(opts: Options, scratch: Path, results: Results) -> dict[str, Any]:
    """Run every workload (a failure is recorded and the others still run); return the
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
        # The test harness turns every role's access log on; a node's default is off.
        deployed_node = {"MDBX_ACCESS_LOG": "false"}
        node1 = cluster.add_node(env={**deployed_node, "MDBX_MAX_UPLOAD_SIZE": str(max_upload)})
        cluster.add_node(env=deployed_node)
        cluster.wait_nodes_up()
        roles = {"master": cluster.master, "node 1": node1, "node 2": cluster.nodes[1]}
        with Nginx(www, tmp_dir=scratch / "nginx-tmp") as nginx:
            pids = {label: role.process.pid for label, role in roles.items() if role.process}
            with RssSampler({**pids, "nginx": nginx.pid}, max_seconds=3 * 3600) as rss:
                workloads(opts, scratch, www, nginx.url, cluster, pids, results)
            peaks = rss.peaks()
            growth = rss.growth()
    finally:
        cluster.stop()
    for label in ("master", "node 1", "node 2"):
        ours = peaks.get(label, {})
        ref = peaks.get("nginx", {})
        mine = ours.get("max_process_bytes", 0) / 1e6
        nginx_mb = ref.get("max_process_bytes", 0) / 1e6
        flag = mine * 1e6 > RSS_LIMIT
        ratio = results.figure(
            f"peak RSS, largest process: {label}",
            mine,
            nginx_mb,
            "MB",
            tree_mb=ours.get("tree_bytes", 0) / 1e6,
            processes=ours.get("processes", 0),
            reference_tree_mb=ref.get("tree_bytes", 0) / 1e6,
            over_150_mb=flag,
        )
        results.row(
            f"peak RSS of the largest process: {label} (whole tree)",
            f"nginx {num(nginx_mb, 'MB')} ({num(ref.get('tree_bytes', 0) / 1e6, 'MB')})",
            f"{num(mine, 'MB')} ({num(ours.get('tree_bytes', 0) / 1e6, 'MB')}, "
            f"{ours.get('processes', 0)} processes)" + (" **over 150 MB**" if flag else ""),
            ratio,
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
        )
    return setup


def workloads(
    opts: Options,
    scratch: Path,
    www: Path,
    nginx_url: str,
    cluster: Cluster,
    servers: dict[str, int],
    results: Results,
) -> None:
    """Run every workload; ``servers``: the root pid of each role, by label."""
    node = cluster.nodes[0].url
    master = cluster.master.url
    big = opts.big_mib * MIB
    big_label = f"{opts.big_mib} MiB"
    client = Client()

    def put_node(body: bytes, name: str) -> str:
        digest = hashlib.sha256(body).hexdigest()
        query = urlencode({"hash": digest, "name": name, "replicate": "0", "register": "1"})
        expect_ok(*client.request("PUT", f"{node}/upload?{query}", body), f"PUT {name}")
        return digest

    # -- PUT big, one stream, durable: dd fdatasync vs node PUT /upload ------------------
    big_hash = None
    workload = f"PUT {big_label}, one stream, MB/s (durable)"
    print(workload, flush=True)
    try:
        dd_rates, node_rates = [], []
        for run in range(opts.repeat):
            source = www / f"big-{run}.bin"
            digest = random_file(source, big)
            target = scratch / "dd.out"
            dd_rates.append(big / dd_seconds(source, target) / 1e6)
            target.unlink()
            query = urlencode({"hash": digest, "name": source.name, "replicate": "0"})
            url = f"{node}/upload?{query}&register=1"
            node_rates.append(big / curl_seconds("-T", str(source), url, expect_bytes=big) / 1e6)
            print(f"  run {run + 1}: dd {dd_rates[-1]:,.0f}, node {node_rates[-1]:,.0f} MB/s")
            if run == 0:
                big_hash = digest  # kept for the GETs
            else:
                source.unlink()
        ratio = results.figure(
            workload,
            statistics.median(node_rates),
            statistics.median(dd_rates),
            "MB/s",
            reference_label="dd bs=4M conv=fdatasync",
            ours_label="node PUT /upload (fsync, registered)",
            ours_samples=node_rates,
            reference_samples=dd_rates,
        )
        results.row(
            workload,
            f"dd fdatasync {spread(dd_rates, 'MB/s')}",
            f"node `/upload` {spread(node_rates, 'MB/s')}",
            ratio,
        )
    except Exception as error:
        results.fail(workload, error)

    # -- the master's copy of another big file (multi-block), for its /download ----------
    master_hash = None
    workload = f"PUT {big_label}, one stream, MB/s (durable): master `/upload/NAME`"
    print(workload, flush=True)
    try:
        source = scratch / "master-big.bin"
        master_hash = random_file(source, big)
        dd_rate = big / dd_seconds(source, scratch / "dd.out") / 1e6
        (scratch / "dd.out").unlink()
        rate = big / curl_seconds("-T", str(source), f"{master}/upload/big.bin", expect_bytes=big)
        rate /= 1e6
        source.unlink()
        ratio = results.figure(
            workload,
            rate,
            dd_rate,
            "MB/s",
            reference_label="dd bs=4M conv=fdatasync",
            ours_label=f"master PUT /upload/NAME (4 MiB blocks, R={opts.replication})",
        )
        results.row(
            f"PUT {big_label}, one stream, MB/s (durable), for scale",
            f"dd fdatasync {num(dd_rate, 'MB/s')}",
            f"master `/upload/NAME` (R = {opts.replication}) {num(rate, 'MB/s')}",
            ratio,
        )
    except Exception as error:
        results.fail(workload, error)

    # -- GET big, one stream: nginx vs node /retrieve and master /download ---------------
    workload = f"GET {big_label}, one stream, MB/s"
    print(workload, flush=True)
    try:
        if big_hash is None:
            raise RuntimeError("the big file could not be stored on the node (see above)")
        # label of the figure -> (its URL, how the table names it)
        readers = {"node /retrieve": (f"{node}/retrieve?hash={big_hash}", "node `/retrieve`")}
        if master_hash is not None:
            download = f"{master}/download?hash={master_hash}"
            readers["master /download"] = (download, "master `/download` (302 to a node's `/file`)")
            readers["master /download?proxy=1"] = (
                f"{download}&proxy=1",
                "master `/download?proxy=1` (streamed, blocks checked)",
            )
        nginx_rates: list[float] = []
        rates: dict[str, list[float]] = {label: [] for label in readers}
        for _ in range(opts.repeat):
            nginx_rates.append(big / curl_seconds(f"{nginx_url}/big-0.bin", expect_bytes=big) / 1e6)
            for label, (url, _name) in readers.items():
                rates[label].append(big / curl_seconds(url, expect_bytes=big) / 1e6)
        nginx_median = statistics.median(nginx_rates)
        for label, (_url, name) in readers.items():
            ratio = results.figure(
                f"{workload}: {label}",
                statistics.median(rates[label]),
                nginx_median,
                "MB/s",
                reference_samples=nginx_rates,
                ours_samples=rates[label],
            )
            results.row(
                workload,
                f"nginx {spread(nginx_rates, 'MB/s')}",
                f"{name} {spread(rates[label], 'MB/s')}",
                ratio,
            )
        if master_hash is None:
            results.row(workload, "", "master `/download`: not run (its upload failed)", None)
    except Exception as error:
        results.fail(workload, error)

    # -- GET 4 KiB and 1 MiB with wrk: nginx vs node /retrieve ---------------------------
    for size, unit in ((opts.small_kib * KIB, "req/s"), (opts.medium_kib * KIB, "MB/s")):
        label = f"{size // KIB} KiB" if size < MIB else f"{size // MIB} MiB"
        workload = f"GET {label}, {opts.connections} connections, {unit}"
        print(workload, flush=True)
        try:
            body = os.urandom(size)
            (www / f"get-{size}.bin").write_bytes(body)
            digest = put_node(body, f"get-{size}.bin")
            theirs = run_wrk(
                f"{nginx_url}/get-{size}.bin", opts.threads, opts.connections, opts.duration
            )
            ours = run_wrk(
                f"{node}/retrieve?hash={digest}", opts.threads, opts.connections, opts.duration
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
                )
        except Exception as error:
            results.fail(workload, error)

    # -- PUT 4 KiB, many connections, durable: node PUT /upload vs the fsync loop --------
    size = opts.small_kib * KIB
    workload = f"PUT {size // KIB} KiB, {opts.put_concurrency} connections, files/s (durable)"
    print(workload, flush=True)
    try:
        stored_before = node_blobs(node)
        with CpuMeter(servers) as cpu:
            ours = run_wrk(
                f"{node}/upload?replicate=0&register=1&name=small.bin",
                opts.threads,
                opts.put_concurrency,
                opts.duration,
                script=PUT_SCRIPT,
                script_args=[str(size)],
            )
        cpu_ms = cpu.ms_per(ours.requests)
        # Every answered PUT stored a new blob (bodies are distinct): check the node agrees.
        # Requests cut off by wrk's deadline may have been stored too.
        new_blobs = node_blobs(node) - stored_before
        if not ours.requests <= new_blobs <= ours.requests + opts.put_concurrency:
            ours.errors.append(f"{new_blobs} blobs stored for {ours.requests} answered PUTs")
        limit = fsync_loop(scratch / "fsync-loop", size, opts.duration, opts.put_max_files)
        ratio = results.figure(
            workload,
            ours.requests_per_s,
            limit.rate,
            "files/s",
            ours_label="node PUT /upload (fsync, registered, replicate=0), wrk",
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
            f"p50 {num(limit.percentile_ms(0.5), 'ms')}",
            "node `/upload` (wrk) "
            + rate_latency(ours.requests_per_s, "files/s", ours.p50_ms, ours.p99_ms)
            + cpu_note(cpu_ms)
            + errors_note(ours.errors),
            ratio,
        )
    except Exception as error:
        results.fail(workload, error)

    # -- weed benchmark style: 1 KiB writes (assign + upload), then reads by hash ---------
    weed = (
        f"{opts.weed_kib} KiB write then read, c={opts.weed_concurrency}, {opts.weed_files:,} files"
    )
    print(weed, flush=True)
    written: list[tuple[str, str] | None] = [None] * opts.weed_files
    weed_size = opts.weed_kib * KIB
    try:

        def write(client: Client, i: int) -> None:
            status, reply = client.request("POST", f"{master}/assign")
            expect_ok(status, reply, "POST /assign")
            plan = json.loads(reply)
            body = os.urandom(weed_size)
            digest = hashlib.sha256(body).hexdigest()
            params = {"hash": digest, "name": f"w{i}", "replicate": "0"}
            if plan["chain"]:
                params["chain"] = ",".join(plan["chain"])
            url = f"{plan['upload_url']}?{urlencode(params)}"
            expect_ok(*client.request("PUT", url, body), "PUT /upload")
            written[i] = (plan["upload_url"].removesuffix("/upload"), digest)

        with CpuMeter(servers) as cpu:
            load = run_load(opts.weed_concurrency, opts.weed_seconds, opts.weed_files, write)
        weed_row(
            results,
            f"{weed}: write",
            "`/assign` + node `/upload`",
            load,
            opts.weed_files,
            opts,
            cpu.ms_per(load.ops),
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

        with CpuMeter(servers) as cpu:
            load = run_load(opts.weed_concurrency, opts.weed_seconds, len(stored), read)
        weed_row(
            results,
            f"{weed}: read",
            "node `/retrieve` by hash (Python clients, every file hashed)",
            load,
            len(stored),
            opts,
            cpu.ms_per(load.ops),
        )
    except Exception as error:
        results.fail(f"{weed}: read", error)
    try:
        if not stored:
            raise RuntimeError("no file was written")
        weed_reads_by_wrk(opts, scratch, weed, stored, results)
    except Exception as error:
        results.fail(f"{weed}: read, wrk", error)


def weed_reads_by_wrk(
    opts: Options, scratch: Path, weed: str, stored: list[tuple[str, str]], results: Results
) -> None:
    """The same reads with wrk: one run per node at once, the connections split between
    them. On 2 cores the Python clients above spend as much CPU as the nodes serving them
    (their GIL caps them at one core); wrk costs a fraction of that, so this row shows
    what the nodes can serve. The bytes were checked by the Python pass."""
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
    # The slower node's percentiles: an upper bound for the whole.
    p50, p99 = max(run.p50_ms for run in runs), max(run.p99_ms for run in runs)
    errors = [error for run in runs for error in run.errors]
    workload = f"{weed}: read, wrk"
    results.figure(workload, rate, None, "ops/s", errors=errors, nodes=len(runs))
    results.figure(f"{workload}: p50", p50, None, "ms")
    results.figure(f"{workload}: p99", p99, None, "ms")
    results.row(
        workload,
        "—",
        f"node `/retrieve` by hash (wrk, {per_node} connections to each of {len(runs)} "
        f"nodes, {opts.duration:g} s) {rate_latency(rate, 'ops/s', p50, p99)}"
        + errors_note(errors),
        None,
    )


def weed_row(
    results: Results,
    workload: str,
    path: str,
    load: Load,
    target: int,
    opts: Options,
    cpu_ms: dict[str, float],
) -> None:
    if not load.ops:
        raise RuntimeError(f"no operation succeeded: {'; '.join(load.first_errors)}")
    p50, p99 = load.percentile_ms(0.5), load.percentile_ms(0.99)
    results.figure(
        workload,
        load.rate,
        None,
        "ops/s",
        files=load.ops,
        target_files=target,
        seconds=load.seconds,
        errors=load.errors,
        first_errors=load.first_errors,
        replication=opts.replication,
        cpu_ms_per_op=cpu_ms,
    )
    results.figure(f"{workload}: p50", p50, None, "ms")
    results.figure(f"{workload}: p99", p99, None, "ms")
    capped = " (time limit reached)" if load.ops + load.errors < target else ""
    results.row(
        workload,
        "—",
        f"{path} {rate_latency(load.rate, 'ops/s', p50, p99)}, "
        f"{load.ops:,} in {load.seconds:.1f} s{capped}"
        + cpu_note(cpu_ms)
        + errors_note(load.errors, load.first_errors),
        None,
    )


def markdown(report: dict[str, Any], table: str) -> str:
    m, v, o = report["machine"], report["versions"], report["options"]
    setup = report["setup"]
    lines = [
        HEADING,
        "",
        f"Written by `make bench` (`bench/bench.py --write-md`) on {report['date']}, in "
        f"{report['seconds']:.0f} s; each run replaces this section. Figures also in "
        "`bench/results/latest.json`.",
        "",
        f"- Machine: {m['nproc']} × {m['cpu']}, {m['memory_gib']} GiB, {m['os']}, "
        f"kernel {m['kernel']}; scratch dir {setup.get('disk', '?')}.",
        "- Versions: " + ", ".join(f"{name} {version}" for name, version in v.items()) + ".",
        f"- Cluster: {setup.get('cluster', '?')}.",
        f"- nginx: {setup.get('nginx', '?')}. Load: {setup.get('client', '?')}.",
        "- Options: " + ", ".join(f"{k}={val}" for k, val in o.items()) + ".",
        "- Ratio: Mini-Dropbox / reference (for PUT the reference is the disk's limit). "
        "Single-stream rows are the median (and range) of the repetitions; wrk rows use the same "
        "threads, connections and duration for both.",
    ]
    # Wrapped like the rest of the file; the table is not.
    lines = [
        textwrap.fill(
            line,
            92,
            subsequent_indent="  " if line.startswith("-") else "",
            break_long_words=False,
            break_on_hyphens=False,
        )
        if line
        else line
        for line in lines
    ]
    lines += ["", table, ""]
    if report["failures"]:
        lines += ["Failed workloads:", ""]
        lines += [f"- {f['workload']}: `{f['error'][:500]}`" for f in report["failures"]]
        lines.append("")
    return "\n".join(lines)


def write_section(section: str) -> None:
    """Replace this bench's section of BENCHMARKS.md (or append it), keeping the rest."""
    current = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    start = current.find(f"\n{HEADING}\n")
    if start == -1:
        BENCHMARKS.write_text(current.rstrip("\n") + "\n\n" + section)
        return
    end = current.find("\n## ", start + 1)
    rest = "" if end == -1 else "\n" + current[end + 1 :]
    BENCHMARKS.write_text(current[: start + 1] + section + rest)


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
    report["workloads"] = results.entries
    report["failures"] = results.failures
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    table = results.table()
    print(f"\n{table}\n")
    print(
        f"{len(results.failures)} failed workloads; {report['seconds']:.0f} s; "
        f"figures in {RESULTS / 'latest.json'}"
    )
    if write_md:
        write_section(markdown(report, table))
        print(f"wrote the section {HEADING!r} of {BENCHMARKS}")
    if results.failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
