"""The Python client falls back to another replica when one is down or corrupt."""

from __future__ import annotations

import hashlib
import os

import pytest

from app.client.api import Client
from app.client.errors import ClientError
from tests.support.api import blob_path


def test_download_skips_a_corrupt_replica_and_a_dead_one(spawn, tmp_path):
    cluster = spawn(nodes=2)
    client = Client(cluster.master.url)
    payload = os.urandom(300_000)
    stored = client.upload(payload, "data.bin")
    digest = stored["hash"]
    assert digest == hashlib.sha256(payload).hexdigest() and stored["copies"] == 2

    first_listed = client.stat(digest)["locations"][0]["node"]
    bad, good = sorted(cluster.nodes, key=lambda n: str(n.port) != first_listed)
    path = blob_path(bad, digest)
    flipped = bytearray(path.read_bytes())
    flipped[1000] ^= 0xFF
    path.write_bytes(bytes(flipped))

    out = client.download(digest, tmp_path / "out.bin")
    assert out.read_bytes() == payload

    good.kill()
    with pytest.raises(ClientError, match="no replica"):
        client.download(digest, tmp_path / "again.bin")
    assert not (tmp_path / "again.bin").exists()
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


def test_errors_carry_the_clusters_code(cluster):
    # The shared cluster: a hash no content has is unknown there as on any other.
    with pytest.raises(ClientError) as caught:
        Client(cluster.master.url).stat("0" * 64)
    assert caught.value.status == 404 and caught.value.code == "file_not_found"
