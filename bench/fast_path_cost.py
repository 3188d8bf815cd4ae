"""CPU per request of a node's ``GET /retrieve`` of a 4 KiB blob on the overlay (#20).

What the request metrics cost the fast path: run before and after a change and compare.
The figure is the least of three wrk runs, in microseconds of the node's process tree
(arbiter and workers) per request:

    .venv/bin/python -m bench.fast_path_cost [--runs 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from pathlib import Path
from urllib.parse import urlencode

import requests

from bench.load import run_wrk
from bench.procstat import CpuMeter
from localcluster.launcher import Cluster

BLOB_BYTES = 4 * 1024


def measure(runs: int, seconds: float, threads: int, connections: int) -> list[float]:
    """Microseconds of node CPU per request, one figure per wrk run."""
    with tempfile.TemporaryDirectory(prefix="mdbx-bench-") as root:
        cluster = Cluster(Path(root)).start(nodes=1)
        try:
            node = cluster.nodes[0]
            assert node.process is not None
            body = os.urandom(BLOB_BYTES)
            digest = hashlib.sha256(body).hexdigest()
            query = urlencode({"hash": digest, "name": "b.bin", "replicate": "0"})
            requests.put(f"{node.url}/upload?{query}", data=body, timeout=10).raise_for_status()
            url = f"{node.url}/retrieve?hash={digest}"
            figures = []
            for _ in range(runs):
                with CpuMeter({"node": node.process.pid}) as cpu:
                    done = run_wrk(url, threads, connections, seconds)
                if done.errors:
                    raise RuntimeError(f"wrk saw errors: {done.errors}")
                figures.append(cpu.spent["node"] * 1e6 / done.requests)
                print(f"  {done.requests_per_s:.0f} req/s, {figures[-1]:.1f} µs CPU/request")
            return figures
        finally:
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    opts = parser.parse_args()
    figures = measure(opts.runs, opts.seconds, opts.threads, opts.connections)
    print(f"node GET /retrieve 4 KiB: min {min(figures):.1f} µs CPU per request")


if __name__ == "__main__":
    main()
