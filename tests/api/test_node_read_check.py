"""A node never sends a copy that does not hash to its name (#20): a byte flipped or the
file cut short behind its back is found by the read itself, quarantined, answered 404,
and a sound copy stored again is served."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest


def store(client, data: bytes) -> str:
    form = {"file": (io.BytesIO(data), "r.bin")}
    response = client.post("/upload", data=form, content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    return response.json["hash"]


def blob_file(app, digest: str) -> Path:
    return Path(app.config["DATA_DIR"]) / "blobs" / digest[:2] / digest[2:4] / digest


def flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))


def cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-1])


@pytest.mark.parametrize("damage", [flip, cut], ids=["flipped", "truncated"])
def test_a_damaged_copy_is_quarantined_at_its_first_read_never_sent(node_client, node_app, damage):
    payload = bytes(range(256)) * 64
    digest = store(node_client, payload)
    assert node_client.get("/retrieve", query_string={"hash": digest}).data == payload
    damage(blob_file(node_app, digest))

    answer = node_client.get("/retrieve", query_string={"hash": digest})
    assert answer.status_code == 404
    assert answer.json["error"]["code"] == "blob_not_found"
    assert not blob_file(node_app, digest).exists()
    (specimen,) = (Path(node_app.config["DATA_DIR"]) / "quarantine").iterdir()
    assert specimen.name.startswith(digest)

    assert store(node_client, payload) == digest  # a repair's copy
    again = node_client.get("/retrieve", query_string={"hash": digest})
    assert again.status_code == 200 and again.data == payload
    assert hashlib.sha256(again.data).hexdigest() == digest
