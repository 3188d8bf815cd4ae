"""Fault 3 of #20: a node's copies rot (a byte flipped, a blob truncated, a blob deleted),
its whole data directory is deleted, its catalogue database is corrupted. Each is
detected, never served (a read gives the good bytes from the other replica, or an error:
never wrong bytes), and repaired back to R copies."""

from __future__ import annotations

import os
import shutil
import time

import pytest
import requests

from tests.support.api import blob_path, node_id
from tests.support.faults import FAST, Ledger, record_figure, wait_healthy
from tests.support.upload_kinds import raw_to_master

TIMEOUT = 15
BLOCK = 64 * 1024
ENV = {**FAST, "MDBX_BLOCK_SIZE": str(BLOCK)}
READS = 12  # per file and path: reads go to either replica at random


def stored(cluster, count: int) -> Ledger:
    """``count`` files through the master, one of them of several blocks."""
    ledger = Ledger()
    for i in range(count):
        payload = os.urandom(3 * BLOCK + i if i == 0 else 20_000 + i)
        digest = raw_to_master(cluster, payload, f"c{i}.bin")
        ledger.acknowledged[digest] = payload
    return ledger


def assert_never_served_wrong(master, ledger: Ledger) -> dict[str, int]:
    """Read every file ``READS`` times by each path: the good bytes or an error only.

    The proxy reads another replica when one is bad; a redirect to the bad node gets its
    404 until the master hears of the loss (within a second): counted, not failed."""
    seen = {"redirect good": 0, "redirect error": 0, "proxy good": 0, "proxy error": 0}
    for digest, payload in ledger.acknowledged.items():
        for path, params in (
            ("redirect", {"hash": digest}),
            ("proxy", {"hash": digest, "proxy": "1"}),
        ):
            for _ in range(READS):
                try:
                    answer = requests.get(f"{master.url}/download", params=params, timeout=TIMEOUT)
                except requests.ConnectionError:
                    # The node restarting its worker (its data directory gone) cut the
                    # redirected read off: an error, never wrong bytes.
                    assert path == "redirect", params
                    seen[f"{path} error"] += 1
                    continue
                if answer.status_code == 200:
                    assert answer.content == payload, (digest, params, "wrong bytes served")
                    seen[f"{path} good"] += 1
                else:
                    assert answer.json()["error"]["code"] in ("blob_not_found", "block_not_here")
                    seen[f"{path} error"] += 1
    assert seen["proxy error"] == 0, seen
    return seen


def truncate(node, digest: str) -> None:
    path = blob_path(node, digest)
    path.write_bytes(path.read_bytes()[:-100])


def flip(node, digest: str) -> None:
    path = blob_path(node, digest)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def every_blob(ledger: Ledger, master) -> list[str]:
    """The blobs of the files: a file of several blocks is its blocks."""
    digests = []
    for digest in ledger.acknowledged:
        blocks = requests.get(f"{master.url}/files/{digest}/blocks", timeout=TIMEOUT).json()
        digests += [b["hash"] for b in blocks["blocks"]]
    return digests


def test_rot_truncation_and_loss_of_blobs_are_never_served_and_are_repaired(spawn):
    cluster = spawn(nodes=2, env=ENV)
    master, (bad, _good) = cluster.master, cluster.nodes
    ledger = stored(cluster, 6)
    blobs = every_blob(ledger, master)
    flipped, cut, gone = blobs[0], blobs[3], blobs[4]  # a block, two small files
    flip(bad, flipped)
    truncate(bad, cut)
    blob_path(bad, gone).unlink()
    struck = time.monotonic()

    seen = assert_never_served_wrong(master, ledger)
    report = requests.post(f"{bad.url}/scrub", timeout=TIMEOUT).json()
    # The reads found each bad copy (all but 1 in 4096 runs) before the scrub could.
    assert not {flipped, cut} & set(report["corrupt"]), report
    quarantined = {p.name[:64] for p in (bad.data_dir / "quarantine").iterdir()}
    assert {flipped, cut} <= quarantined
    recovered = wait_healthy(master, nodes=2, since=struck)
    after = assert_never_served_wrong(master, ledger)
    assert after["redirect error"] == 0, after
    for digest in (flipped, cut, gone):
        answer = requests.get(f"{bad.url}/retrieve", params={"hash": digest}, timeout=TIMEOUT)
        assert answer.status_code == 200
        assert answer.content == blob_path(_good, digest).read_bytes()
    assert ledger.assert_intact(master) == 6
    record_figure(
        "corrupt blobs (flip, truncate, delete)",
        seconds_to_healthy=round(recovered, 2),
        reads_while_bad=seen,
    )


@pytest.mark.soak
def test_a_node_whose_whole_data_directory_is_deleted_is_refilled(spawn):
    cluster = spawn(nodes=2, env=ENV)
    master, (bad, good) = cluster.master, cluster.nodes
    ledger = stored(cluster, 6)
    shutil.rmtree(bad.data_dir)
    struck = time.monotonic()
    seen = assert_never_served_wrong(master, ledger)
    # A running node finds the loss with its scrub (or a read of a missing copy)...
    report = requests.post(f"{bad.url}/scrub", timeout=TIMEOUT)
    assert report.status_code == 200, report.text
    recovered = wait_healthy(master, nodes=2, since=struck)
    assert ledger.assert_intact(master) == 6
    for digest in every_blob(ledger, master):
        assert blob_path(bad, digest).read_bytes() == blob_path(good, digest).read_bytes()
    # ... and one restarted on the empty directory is refilled too.
    bad.kill()
    shutil.rmtree(bad.data_dir)
    bad.start()
    restarted = time.monotonic()
    cluster.wait_nodes_up()
    refilled = wait_healthy(master, nodes=2, since=restarted)
    assert ledger.assert_intact(master) == 6
    for digest in every_blob(ledger, master):
        assert blob_path(bad, digest).exists()
    record_figure(
        "node data directory deleted",
        seconds_to_healthy_while_running=round(recovered, 2),
        seconds_to_healthy_after_restart_on_empty_dir=round(refilled, 2),
        reads=seen,
    )


def test_a_node_whose_catalogue_database_is_corrupt_rebuilds_it_from_its_blobs(spawn):
    cluster = spawn(nodes=2, env=ENV)
    master, (bad, _good) = cluster.master, cluster.nodes
    ledger = stored(cluster, 6)
    # The blobs of the files and the manifest of the large one (and any snapshot taken).
    held = requests.get(f"{bad.url}/health", timeout=TIMEOUT).json()["files"]
    assert held > len(every_blob(ledger, master))
    bad.kill()
    database = bad.data_dir / "catalog.db"
    with database.open("r+b") as db:
        db.seek(0)
        db.write(os.urandom(4096))  # the header and the first page: not a database
    for leftover in bad.data_dir.glob("catalog.db-*"):
        leftover.unlink()
    bad.start()
    restarted = time.monotonic()
    cluster.wait_nodes_up()
    seen = assert_never_served_wrong(master, ledger)
    recovered = wait_healthy(master, nodes=2, since=restarted)
    health = requests.get(f"{bad.url}/health", timeout=TIMEOUT).json()
    assert health["files"] == held, health
    for digest in every_blob(ledger, master):
        answer = requests.get(f"{bad.url}/retrieve", params={"hash": digest}, timeout=TIMEOUT)
        assert answer.status_code == 200, answer.text
    assert ledger.assert_intact(master) == 6
    assert node_id(bad) in {n["id"] for n in requests.get(f"{master.url}/nodes").json()}
    record_figure(
        "node catalogue database corrupt",
        seconds_to_healthy_after_restart=round(recovered, 2),
        reads=seen,
    )
