"""Two masters on one PostgreSQL database serve one cluster; killing one loses nothing."""

from __future__ import annotations

import hashlib
import os

import pytest
import requests

from localcluster.launcher import wait_until
from tests.support.api import upload
from tests.support.postgres import postgres_schema

pytestmark = pytest.mark.postgres

TIMEOUT = 30
FAST = {"MDBX_SYNC_INTERVAL": "0.3", "MDBX_NODE_TIMEOUT": "3", "MDBX_REPAIR_INTERVAL": "0.5"}


def download(url: str, digest: str) -> bytes:
    response = requests.get(f"{url}/download", params={"hash": digest}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.content


def test_two_masters_share_one_catalogue_and_survive_losing_one(spawn):
    with postgres_schema() as database:
        env = {**FAST, "MDBX_METADATA_URL": database}
        cluster = spawn(nodes=0, start=False, env=env)
        cluster.add_master()
        cluster.start(nodes=2)
        first, second = cluster.masters

        for master in (first, second):  # every node heartbeats to both masters
            nodes = wait_until(
                lambda m=master: (
                    [
                        n
                        for n in requests.get(f"{m.url}/nodes", timeout=TIMEOUT).json()
                        if n["state"] == "up"
                    ]
                    if len(requests.get(f"{m.url}/nodes", timeout=TIMEOUT).json()) == 2
                    else None
                ),
                deadline=15,
            )
            assert len(nodes) == 2

        stored = {}
        for i, master in enumerate([first, second] * 5):
            payload = os.urandom(10_000 + i)
            body = upload(master.url, payload, f"m{i}.bin")
            assert body["copies"] == 2
            stored[body["hash"]] = payload

        for master in (first, second):
            listed = {f["hash"] for f in requests.get(f"{master.url}/list", timeout=TIMEOUT).json()}
            assert listed == set(stored)
            for digest, payload in stored.items():
                assert download(master.url, digest) == payload

        first.kill()
        payload = os.urandom(5000)
        digest = upload(second.url, payload, "after.bin")["hash"]
        stored[digest] = payload
        for digest, payload in stored.items():
            assert download(second.url, digest) == payload
            assert hashlib.sha256(payload).hexdigest() == digest
        health = requests.get(f"{second.url}/cluster/health", timeout=TIMEOUT).json()
        assert health["files"] == len(stored)
        assert health["healthy"] == len(stored)
