"""One big file in one stream: PUT against dd's fdatasync rate, GET against nginx."""

from __future__ import annotations

import statistics
from urllib.parse import urlencode

from bench.disk import dd_seconds, random_file
from bench.load import MIB, curl_seconds
from bench.results import num, spread
from bench.rig import Rig

# Issue #7's targets, as ratios to the reference measured in the same run.
PUT_TARGET = 0.8
GET_TARGET = 0.9


def put_big_to_node(rig: Rig) -> str | None:
    """PUT a big file to node 1, durably, against dd; return the first file's hash (kept
    in nginx's root for the GETs)."""
    opts, results = rig.opts, rig.results
    big = opts.big_mib * MIB
    workload = f"PUT {opts.big_mib} MiB, one stream, MB/s (durable)"
    print(workload, flush=True)
    kept = None
    try:
        dd_rates, node_rates = [], []
        for run in range(opts.repeat):
            source = rig.www / f"big-{run}.bin"
            digest = random_file(source, big)
            target = rig.scratch / "dd.out"
            dd_rates.append(big / dd_seconds(source, target) / 1e6)
            target.unlink()
            query = urlencode({"hash": digest, "name": source.name, "replicate": "0"})
            url = f"{rig.node}/upload?{query}&register=1"
            node_rates.append(big / curl_seconds("-T", str(source), url, expect_bytes=big) / 1e6)
            print(f"  run {run + 1}: dd {dd_rates[-1]:,.0f}, node {node_rates[-1]:,.0f} MB/s")
            if run == 0:
                kept = digest
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
            f"≥ {PUT_TARGET}",
            ratio is not None and ratio >= PUT_TARGET,
        )
    except Exception as error:
        results.fail(workload, error)
    return kept


def put_big_to_master(rig: Rig) -> str | None:
    """PUT another big file through the master (blocks, R copies), for scale; return its
    hash, for the master's /download."""
    opts, results = rig.opts, rig.results
    big = opts.big_mib * MIB
    workload = f"PUT {opts.big_mib} MiB, one stream, MB/s (durable): master `/upload/NAME`"
    print(workload, flush=True)
    try:
        source = rig.scratch / "master-big.bin"
        digest = random_file(source, big)
        dd_rate = big / dd_seconds(source, rig.scratch / "dd.out") / 1e6
        (rig.scratch / "dd.out").unlink()
        seconds = curl_seconds("-T", str(source), f"{rig.master}/upload/big.bin", expect_bytes=big)
        rate = big / seconds / 1e6
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
            f"PUT {opts.big_mib} MiB, one stream, MB/s (durable), for scale",
            f"dd fdatasync {num(dd_rate, 'MB/s')}",
            f"master `/upload/NAME` (R = {opts.replication}) {num(rate, 'MB/s')}",
            ratio,
        )
        return digest
    except Exception as error:
        results.fail(workload, error)
        return None


def get_big(rig: Rig, node_hash: str | None, master_hash: str | None) -> None:
    """GET the big files in one stream each: nginx, node /retrieve, master /download
    (followed to a node's /file, and streamed by the master with ``proxy=1``)."""
    opts, results = rig.opts, rig.results
    big = opts.big_mib * MIB
    workload = f"GET {opts.big_mib} MiB, one stream, MB/s"
    print(workload, flush=True)
    try:
        if node_hash is None:
            raise RuntimeError("the big file could not be stored on the node (see above)")
        # label of the figure -> (its URL, how the table names it, its target)
        readers: dict[str, tuple[str, str, float | None]] = {
            "node /retrieve": (
                f"{rig.node}/retrieve?hash={node_hash}",
                "node `/retrieve`",
                GET_TARGET,
            )
        }
        if master_hash is not None:
            download = f"{rig.master}/download?hash={master_hash}"
            readers["master /download"] = (
                download,
                "master `/download` (302 to a node's `/file`)",
                GET_TARGET,
            )
            readers["master /download?proxy=1"] = (
                f"{download}&proxy=1",
                "master `/download?proxy=1` (streamed, blocks checked)",
                None,
            )
        nginx_rates: list[float] = []
        rates: dict[str, list[float]] = {label: [] for label in readers}
        for _ in range(opts.repeat):
            seconds = curl_seconds(f"{rig.nginx_url}/big-0.bin", expect_bytes=big)
            nginx_rates.append(big / seconds / 1e6)
            for label, (url, _name, _target) in readers.items():
                rates[label].append(big / curl_seconds(url, expect_bytes=big) / 1e6)
        nginx_median = statistics.median(nginx_rates)
        for label, (_url, name, target) in readers.items():
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
                f"≥ {target}" if target else "",
                None if target is None else ratio is not None and ratio >= target,
            )
        if master_hash is None:
            results.row(workload, "", "master `/download`: not run (its upload failed)", None)
    except Exception as error:
        results.fail(workload, error)
