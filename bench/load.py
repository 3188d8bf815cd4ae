"""The load generators: wrk, curl and the Python (libcurl) client threads.

Every one of them is bounded: wrk and curl by a duration and a subprocess timeout, the
Python clients by a deadline, a count of operations and a cap on consecutive errors.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

import pycurl

from bench.nginx import apt_installed

KIB = 1024
MIB = 1024 * KIB
WRK = Path("/usr/bin/wrk")
CLIENT_TIMEOUT = 60.0  # seconds a Python client request may take
MAX_CONSECUTIVE_ERRORS = 50  # a client thread gives up after this many failures in a row


# ----- wrk ---------------------------------------------------------------------------


def wrk_binary() -> Path:
    """Return wrk, installing Debian's ``wrk`` package if it is missing."""
    return apt_installed("wrk", WRK)


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
    """Run wrk against ``url`` for ``seconds``; its rate, latencies and errors."""
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


# ----- curl --------------------------------------------------------------------------


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
