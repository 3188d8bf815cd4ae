"""Large-file transfer benchmark (issue #5): the mdbx CLI and curl against the master,
side by side with curl against nginx serving the same bytes from the same disk.

One run starts a cluster as `mdbx serve` runs it (master + 2 nodes, R = 2, gunicorn +
gevent) and a private nginx (sendfile on, WebDAV PUT), then for a random file of --mib
MiB (a fresh one per repetition, so deduplication never helps):

- nginx: `curl -T` (PUT, written once to disk, not fsynced) and `curl -o /dev/null` (GET);
- the disk: `dd conv=fdatasync` of the file (one durable copy; R = 2 writes two);
- Mini-Dropbox: `mdbx put` (block protocol: hashing, 4 parallel block PUTs to nodes,
  each block stored and fsynced twice, commit with whole-file verification) and
  `mdbx get` (parallel block GETs, every block and the whole file checked);
- Mini-Dropbox through the master: `curl -T` to PUT /upload/NAME (the master cuts the
  stream into blocks) and `curl -o /dev/null` of GET /download (streamed, verified);

and the peak RSS of each process of the master, the nodes and nginx meanwhile.

    .venv/bin/python bench/transfer_bench.py [--mib 200] [--repeat 2]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from nginx import Nginx, nginx_version  # noqa: E402
from procstat import RssSampler  # noqa: E402
from report import report  # noqa: E402

from tests.support.cluster import Cluster  # noqa: E402

MIB = 1024 * 1024
MDBX = str(Path(sys.executable).with_name("mdbx"))


def random_file(path: Path, mib: int) -> Path:
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(os.urandom(MIB))
    return path


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    """Run a command to completion; return its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def curl(*args: str) -> list[str]:
    return ["curl", "-sS", "--fail", "-o", "/dev/null", *args]


@click.command()
@click.option("--mib", default=200, show_default=True, help="File size in MiB.")
@click.option("--repeat", default=2, show_default=True, help="Repetitions (best is kept).")
def main(mib: int, repeat: int) -> None:
    size = mib * MIB
    best: dict[str, float] = {}

    def keep(workload: str, seconds: float) -> None:
        best[workload] = max(best.get(workload, 0.0), size / seconds / 1e6)
        print(f"  {workload}: {size / seconds / 1e6:,.0f} MB/s", flush=True)

    with tempfile.TemporaryDirectory(dir=Path.cwd()) as scratch:
        root = Path(scratch)
        cluster = Cluster(root / "cluster", env={"MDBX_SCRUB_INTERVAL": "3600"}).start(nodes=2)
        env = {**os.environ, "MDBX_MASTER": cluster.master.url}
        www = root / "www"
        www.mkdir()
        (root / "nginx-tmp").mkdir()
        roles = {"master": cluster.master, "node 1": cluster.nodes[0], "node 2": cluster.nodes[1]}
        try:
            with Nginx(www, tmp_dir=root / "nginx-tmp") as nginx:
                pids = {label: role.process.pid for label, role in roles.items() if role.process}
                with RssSampler({**pids, "nginx": nginx.pid}) as rss:
                    for run in range(repeat):
                        print(f"run {run + 1} of {repeat}", flush=True)
                        source = random_file(root / f"file{run}.bin", mib)
                        keep(
                            "nginx: curl -T (PUT)",
                            timed(curl("-T", str(source), f"{nginx.url}/f{run}")),
                        )
                        keep("nginx: curl (GET)", timed(curl(f"{nginx.url}/f{run}")))
                        # nginx's PUT is not fsynced; this is the durable ceiling of one copy.
                        dd = ["dd", f"if={source}", f"of={root}/dd{run}", "bs=4M", "conv=fdatasync"]
                        keep("disk: dd conv=fdatasync (one copy)", timed([*dd, "status=none"]))
                        out = root / f"back{run}.bin"
                        put = subprocess.run(
                            [MDBX, "--json", "put", str(source)],
                            check=True,
                            env=env,
                            capture_output=True,
                            text=True,
                        )
                        stored = json.loads(put.stdout)["uploaded"][0]
                        keep("mdbx put (block protocol)", json.loads(put.stdout)["seconds"])
                        keep(
                            "mdbx get (parallel blocks)",
                            timed([MDBX, "get", stored["hash"], "-o", str(out)], env),
                        )
                        out.unlink()
                        other = random_file(root / f"master{run}.bin", mib)
                        keep(
                            "master: curl -T (PUT /upload/NAME)",
                            timed(
                                curl("-T", str(other), f"{cluster.master.url}/upload/m{run}.bin")
                            ),
                        )
                        keep(
                            "master: curl (GET /download)",
                            timed(curl(f"{cluster.master.url}/download?hash={stored['hash']}")),
                        )
                        source.unlink()
                        other.unlink()
                peaks = rss.peaks()
        finally:
            cluster.stop()
    results: dict[str, dict[str, float]] = {name: {"MB/s": rate} for name, rate in best.items()}
    results["ratio: mdbx put / nginx PUT"] = {
        "x": best["mdbx put (block protocol)"] / best["nginx: curl -T (PUT)"]
    }
    results["ratio: mdbx get / nginx GET"] = {
        "x": best["mdbx get (parallel blocks)"] / best["nginx: curl (GET)"]
    }
    for label, peak in peaks.items():
        results[f"peak RSS {label} (largest process / whole tree)"] = {
            "MB": peak["max_process_bytes"] / 1e6,
            "MB tree": peak["tree_bytes"] / 1e6,
        }
    print(f"\nnginx {nginx_version()}, {mib} MiB file, best of {repeat}, R = 2\n")
    report("transfer", results, "workload | figure", 2)


if __name__ == "__main__":
    main()
