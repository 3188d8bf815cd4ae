"""``make soak`` (#20): mixed load on a real cluster for minutes, one fault every 30 s.

One master and three nodes (R = 2). ``--concurrency`` clients each write, read back,
overwrite, delete and list files of their own in one account through ``/api/``, and know
what each of their paths holds once acknowledged. Every ``--fault-every`` seconds one
fault strikes in turn: ``kill -9`` of a node (restarted after 2 s), a node restarted,
``kill -9`` of the master (restarted). Printed at the end: operations, failed calls (a
dead master fails calls: counted, allowed), data errors (an acknowledged file read back
wrong or missing: must be zero), p50/p99 of the calls that succeeded, and the RSS and
open file descriptors of every process at the start and the end, with the descriptors
sampled every ``--fault-every`` seconds: a master restarted by a fault starts again from
its idle count, and its pools fill up to their bounds within its first seconds of load
(a leak climbs sample after sample; a pool reaches its level and stays).

    python -m bench.soak --minutes 10          # make soak
    python -m bench.soak --minutes 2           # a shorter run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from bench.procstat import process_tree, rss_bytes
from localcluster.launcher import Cluster, Role, wait_for_http

TIMEOUT = 10
ENV = {
    "MDBX_SYNC_INTERVAL": "0.5",
    "MDBX_NODE_TIMEOUT": "3",
    "MDBX_REPAIR_GRACE": "2",
    "MDBX_REPAIR_INTERVAL": "1",
    "MDBX_GRACEFUL_TIMEOUT": "2",
    "MDBX_ACCESS_LOG": "false",
    "MDBX_LOGIN_RATE_LIMIT": "1000 per minute",
}
RESULTS = Path("bench/results/soak.json")
START_DEADLINE = 120.0


def process_figures(role: Role) -> dict[str, int]:
    """RSS (summed over the gunicorn tree) and open file descriptors of one role."""
    assert role.process is not None
    pids = process_tree(role.process.pid)
    fds = 0
    for pid in pids:
        try:
            fds += len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
    return {"rss_bytes": sum(rss_bytes(pid) for pid in pids), "open_fds": fds}


def cluster_figures(cluster: Cluster) -> dict[str, dict[str, int]]:
    return {f"{r.role} {r.port}": process_figures(r) for r in [*cluster.masters, *cluster.nodes]}


class Client:
    """One client's own files, and what each path may hold: the content last acknowledged
    (None: deleted), plus that of every write or delete since that failed. A failed call
    may still have been made (its answer lost when the master was killed after the
    commit, a timeout, a 503 from the journal's quorum after the commit), so it stays
    possible until the next acknowledged write or delete of the path; a read must return
    one of them (``data_error`` if not), and one it returns becomes known. A 4xx answer
    is a change not made (a delete's 404 says the path is empty: it is checked as a
    read)."""

    def __init__(self, soak: Soak, number: int) -> None:
        self.soak = soak
        self.number = number
        self.rng = random.Random(number)
        # path -> possible content -> "" (acknowledged or read) or why its call failed.
        self.files: dict[str, dict[bytes | None, str]] = {}

    def run(self, end: float) -> None:
        while time.monotonic() < end:
            kind = self.rng.choices(["write", "read", "delete", "list"], [35, 45, 10, 10])[0]
            path = f"/soak/c{self.number}/f{self.rng.randrange(10)}.bin"
            if kind == "write":
                payload = self.rng.randbytes(self.rng.choice([100, 5_000, 60_000]))
                self.changed(path, payload, self.call("PUT", f"/api/files{path}", data=payload))
            elif kind == "read" and path in self.files:
                answer, _failure = self.call("GET", f"/api/files{path}", ok=(200, 404))
                if answer is not None:
                    self.check(path, answer.content if answer.status_code == 200 else None)
            elif kind == "delete" and any(c is not None for c in self.files.get(path, {})):
                self.changed(path, None, self.call("DELETE", f"/api/files{path}"))
            elif kind == "list":
                self.call("GET", "/api/list", ok=(200, 404), params={"path": "/soak"})

    def changed(
        self, path: str, content: bytes | None, outcome: tuple[requests.Response | None, str]
    ) -> None:
        answer, failure = outcome
        if answer is not None:
            self.files[path] = {content: ""}
        elif failure == "404" and content is None:
            self.check(path, None)  # a delete told there is nothing to delete: a read
        elif not failure.startswith("4"):  # a 4xx was not made; anything else may be
            self.files.setdefault(path, {None: ""}).setdefault(content, failure)

    def check(self, path: str, got: bytes | None) -> None:
        possible = self.files.get(path, {})
        if got not in possible:
            wanted = [c if c is None else c[:8] for c in possible]
            self.soak.data_error(f"{path}: got {got if got is None else got[:8]!r}, not {wanted}")
            return
        if possible[got]:
            self.soak.count(f"failed call seen made ({possible[got]})")
            possible[got] = ""

    def call(
        self, method: str, path: str, ok: tuple[int, ...] = (200,), **kwargs: Any
    ) -> tuple[requests.Response | None, str]:
        """The answer (None if the call failed) and why it failed ("" if it did not)."""
        kind = {"PUT": "write", "DELETE": "delete"}.get(
            method, "read" if "files" in path else "list"
        )
        began = time.monotonic()
        try:
            response = requests.request(
                method,
                f"{self.soak.cluster.master.url}{path}",
                headers=self.soak.headers,
                timeout=TIMEOUT,
                **kwargs,
            )
        except requests.RequestException as exc:
            failure = exc.__class__.__name__
        else:
            failure = "" if response.status_code in ok else str(response.status_code)
        took = time.monotonic() - began
        if failure:
            self.soak.count(f"{kind} failed")
            time.sleep(0.1)  # a dead master refuses at once: do not spin
            return None, failure
        self.soak.count(f"{kind} ok", took)
        return response, ""


class Soak:
    def __init__(self, cluster: Cluster, headers: dict[str, str]) -> None:
        self.cluster = cluster
        self.headers = headers
        self.counts: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.data_errors: list[str] = []
        self.faults: list[str] = []
        self.fd_samples: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def count(self, what: str, took: float | None = None) -> None:
        with self._lock:
            self.counts[what] += 1
            if took is not None:
                self.latencies.append(took)

    def data_error(self, what: str) -> None:
        with self._lock:
            self.data_errors.append(what)

    def sample(self) -> None:
        """Each process's open descriptors now (before the next fault strikes)."""
        for name, figures in cluster_figures(self.cluster).items():
            self.fd_samples.setdefault(name, []).append(figures["open_fds"])

    def inject(self, end: float, every: float, began: float) -> None:
        nodes = self.cluster.nodes
        steps: list[tuple[str, Callable[[], None]]] = [
            ("kill -9 node", lambda: self.kill_and_restart(nodes[0])),
            ("restart node", lambda: self.restart(nodes[1])),
            ("kill -9 master", lambda: self.kill_and_restart(self.cluster.master)),
            ("kill -9 node", lambda: self.kill_and_restart(nodes[2])),
        ]
        turn = 0
        while time.monotonic() + every < end:
            time.sleep(every)
            self.sample()
            what, fault = steps[turn % len(steps)]
            turn += 1
            at = time.monotonic()
            try:
                fault()
            except Exception as exc:  # a slow restart must not end the faults
                what += f" (restart: {exc.__class__.__name__})"
            self.faults.append(f"{at - began:.0f}s {what}, back in {time.monotonic() - at:.1f}s")

    @staticmethod
    def kill_and_restart(role: Role) -> None:
        role.kill()
        time.sleep(2)
        started(role.start(wait=False))

    @staticmethod
    def restart(role: Role) -> None:
        role.stop()
        started(role.start(wait=False))


def started(role: Role) -> None:
    """Wait for a role's /health: longer than tests do, as 64 clients load the machine."""
    wait_for_http(role.url + "/health", deadline=START_DEADLINE)


def new_account(master: Role) -> dict[str, str]:
    user = {"username": "soak", "password": "pw-soak-12345"}
    requests.post(f"{master.url}/api/admin/users", json=user, timeout=TIMEOUT).raise_for_status()
    login = requests.post(f"{master.url}/api/login", json=user, timeout=TIMEOUT)
    login.raise_for_status()
    return {"Authorization": f"Bearer {login.json()['token']}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--fault-every", type=float, default=30.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mdbx-soak-"))
    cluster = Cluster(root, env=ENV).start(nodes=3)
    try:
        result = run(cluster, args.minutes * 60, args.concurrency, args.fault_every)
    finally:
        cluster.stop()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if result["data_errors"]:
        raise SystemExit(f"{len(result['data_errors'])} errors on acknowledged data")


def run(cluster: Cluster, seconds: float, concurrency: int, every: float) -> dict[str, Any]:
    soak = Soak(cluster, new_account(cluster.master))
    at_start = cluster_figures(cluster)
    began = time.monotonic()
    end = began + seconds
    clients = [Client(soak, n) for n in range(concurrency)]
    threads = [threading.Thread(target=c.run, args=(end,)) for c in clients]
    threads.append(threading.Thread(target=soak.inject, args=(end, every, began)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 120)
    cluster.wait_nodes_up(deadline=60)
    # The last word: every acknowledged file of every client, read back once.
    checked = 0
    for client in clients:
        for path in list(client.files):
            answer = requests.get(
                f"{cluster.master.url}/api/files{path}", headers=soak.headers, timeout=TIMEOUT
            )
            checked += 1
            client.check(path, answer.content if answer.status_code == 200 else None)
    at_end = cluster_figures(cluster)
    latencies = sorted(soak.latencies)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "seconds": round(time.monotonic() - began, 1),
        "concurrency": concurrency,
        "operations": sum(soak.counts.values()),
        "by_kind": dict(sorted(soak.counts.items())),
        "failed_calls": sum(n for k, n in soak.counts.items() if k.endswith("failed")),
        "data_errors": soak.data_errors[:50],
        "files_checked_after": checked,
        "p50_ms": round(quantiles[49] * 1000, 1),
        "p99_ms": round(quantiles[98] * 1000, 1),
        "faults": soak.faults,
        "processes_at_start": at_start,
        "processes_at_end": at_end,
        "open_fds_sampled": soak.fd_samples,
    }


if __name__ == "__main__":
    main()
