"""Quotas on a real cluster: what they count, and uploads over them leaving no blocks."""

from __future__ import annotations

import os
from pathlib import Path

import requests

from localcluster.launcher import Cluster
from tests.support.api import get_json, new_account

TIMEOUT = 60
MIB = 1024 * 1024
BLOCK = 4 * MIB  # the master's default BLOCK_SIZE


def stored_blobs(cluster: Cluster) -> tuple[set[Path], int]:
    """Every blob file on the nodes' disks, and the blobs their /health counts."""
    on_disk = {path for node in cluster.nodes for path in (node.data_dir / "blobs").rglob("*")}
    counted = sum(get_json(node.url, "/health")["files"] for node in cluster.nodes)
    return {path for path in on_disk if path.is_file()}, counted


def put_chunked(master: str, path: str, auth: dict[str, str], size: int) -> requests.Response:
    """PUT ``size`` random bytes with Transfer-Encoding: chunked (no Content-Length)."""

    def chunks():
        for start in range(0, size, 256 * 1024):
            yield os.urandom(min(256 * 1024, size - start))

    return requests.put(f"{master}/api/files{path}", data=chunks(), headers=auth, timeout=TIMEOUT)


def test_uploads_over_quota_store_no_byte(cluster):
    master = cluster.master.url
    auth = new_account(master, "quota-blocks", quota_bytes=BLOCK + 2 * MIB)
    before = stored_blobs(cluster)

    # A known length that does not fit: refused before the body is read.
    known = requests.put(
        f"{master}/api/files/big.bin", data=os.urandom(3 * BLOCK), headers=auth, timeout=TIMEOUT
    )
    assert known.status_code == 507 and known.json()["error"]["code"] == "quota_exceeded"
    assert stored_blobs(cluster) == before

    # Chunked, no length: cut off at the quota, after one block had gone to the nodes.
    chunked = put_chunked(master, "/big.bin", auth, 3 * BLOCK)
    assert chunked.status_code == 507 and chunked.json()["error"]["code"] == "quota_exceeded"
    assert stored_blobs(cluster) == before  # that block was deleted again

    account = requests.get(f"{master}/api/account", headers=auth, timeout=TIMEOUT).json()
    assert account["used_bytes"] == 0
    # What fits is stored (two blocks and the file's manifest, R copies each): the counts
    # above would have moved.
    fits = put_chunked(master, "/fits.bin", auth, BLOCK + MIB)
    assert fits.status_code == 200, fits.text
    files, counted = stored_blobs(cluster)
    assert (len(files), counted) == (len(before[0]) + 6, before[1] + 6)


def test_versions_and_trash_count_and_account_and_admin_list_agree(cluster):
    master = cluster.master.url
    auth = new_account(master, "quota-versions", quota_bytes=100_000)

    def put(path: str, size: int) -> requests.Response:
        return requests.put(
            f"{master}/api/files{path}", data=os.urandom(size), headers=auth, timeout=TIMEOUT
        )

    assert put("/a.bin", 60_000).status_code == 200
    # Overwriting keeps the old content as a version: 60 kB + 60 kB do not fit.
    over = put("/a.bin", 60_000)
    assert over.status_code == 507 and over.json()["error"]["code"] == "quota_exceeded"
    assert put("/a.bin", 30_000).status_code == 200  # 90 kB kept
    # Deleting moves to the trash, which still keeps the bytes.
    requests.delete(f"{master}/api/files/a.bin", headers=auth, timeout=TIMEOUT)
    assert put("/b.bin", 20_000).status_code == 507
    # A chunked upload is checked against the same figure.
    assert put_chunked(master, "/c.bin", auth, 20_000).status_code == 507
    used = requests.get(f"{master}/api/account", headers=auth, timeout=TIMEOUT).json()
    listed = requests.get(f"{master}/api/admin/users", timeout=TIMEOUT).json()["users"]
    [row] = [user for user in listed if user["name"] == "quota-versions"]
    assert used["used_bytes"] == row["used_bytes"] == 90_000
