"""Resumable uploads (tus 1.0, /api/tus/) through the Flask test client, onto a real node
served on loopback: creation, offsets, resuming, the protocol's refusals, quotas,
termination, expiry, and the bytes read back through GET /api/files."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.factory import create_app
from app.security import CLUSTER_HEADER
from tests.support.apps import lone_node_app, make_client, serve_app

MIB = 1024 * 1024
BLOCK = 4 * MIB
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"
NODE_ID = "n1"
# Secured mode: the node checks the master's signed reads of private copies with it
# (in open mode it would learn the key from a master it cannot reach here).
SECRET = "test-cluster-secret-0123456789"
CLUSTER = {CLUSTER_HEADER: SECRET}


@pytest.fixture
def node(tmp_path: Path, dead_url: str) -> Iterator[tuple[Flask, str]]:
    app = lone_node_app(tmp_path / "node", dead_url, NODE_ID, CLUSTER_SECRET=SECRET)
    with serve_app(app) as url:
        yield app, url


@pytest.fixture
def overrides() -> dict:
    return {}


def make_master(tmp_path: Path, overrides: dict) -> Flask:
    """A master of one copy per blob (4 MiB blocks, 8 MiB chunks)."""
    config = {
        "DATA_DIR": str(tmp_path / "master"),
        "BACKGROUND_TASKS": False,
        "REPLICATION": 1,
        "CLUSTER_SECRET": SECRET,
    }
    return create_app("master", {**config, **overrides})


@pytest.fixture
def master_app(tmp_path: Path, node: tuple[Flask, str], overrides: dict) -> Iterator[Flask]:
    app = make_master(tmp_path, overrides)
    yield app
    app.extensions["mdbx.master"].index.close()


@pytest.fixture
def master(master_app: Flask, node: tuple[Flask, str]) -> FlaskClient:
    client = make_client(master_app)
    beat = {"node": NODE_ID, "url": node[1], "capacity_bytes": 1 << 40, "free_bytes": 1 << 40}
    assert client.post("/nodes/heartbeat", json=beat, headers=CLUSTER).status_code == 200
    for name in ("alice", "bob"):
        account = {"username": name, "password": f"pw-{name}"}
        added = client.post("/api/admin/users", json=account, headers=CLUSTER)
        assert added.status_code == 200, added.json
    return client


def login(client: FlaskClient, name: str) -> dict[str, str]:
    reply = client.post("/api/login", json={"username": name, "password": f"pw-{name}"})
    assert reply.status_code == 200, reply.json
    return {"Authorization": f"Bearer {reply.json['token']}", **TUS}


@pytest.fixture
def alice(master: FlaskClient) -> dict[str, str]:
    return login(master, "alice")


def metadata(**pairs: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def create(client, headers, length: int, path: str = "/up/file.bin", **extra) -> str:
    reply = client.post(
        "/api/tus/",
        headers={**headers, "Upload-Length": str(length), "Upload-Metadata": metadata(path=path)},
        **extra,
    )
    assert reply.status_code == 201, reply.json
    assert reply.headers["Tus-Resumable"] == "1.0.0"
    location = reply.headers["Location"]
    assert location.startswith("/api/tus/")
    return location


def patch(client, headers, url: str, offset: int, data: bytes, **extra):
    return client.patch(
        url,
        data=data,
        headers={**headers, "Upload-Offset": str(offset), "Content-Type": OCTETS, **extra},
    )


def head(client, headers, url: str):
    return client.head(url, headers=headers)


def send(client, headers, url: str, data: bytes, chunk: int) -> None:
    offset = 0
    while offset < len(data):
        reply = patch(client, headers, url, offset, data[offset : offset + chunk])
        assert reply.status_code == 204, reply.data
        offset += len(data[offset : offset + chunk])
        assert int(reply.headers["Upload-Offset"]) == offset


def read_back(client, headers, path: str) -> bytes:
    reply = client.get(f"/api/files{path}", headers=headers)
    assert reply.status_code == 200, reply.data
    return reply.data


def blob_count(node: tuple[Flask, str]) -> int:
    root = Path(node[0].config["DATA_DIR"]) / "blobs"
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def error(reply) -> tuple[int, str]:
    return reply.status_code, reply.json["error"]["code"]


def test_options_tells_the_protocol_without_auth(master):
    reply = master.options("/api/tus/")
    assert reply.status_code == 204
    assert reply.headers["Tus-Version"] == "1.0.0"
    assert reply.headers["Tus-Resumable"] == "1.0.0"
    extensions = reply.headers["Tus-Extension"].split(",")
    assert {"creation", "termination", "expiration"} <= set(extensions)
    assert int(reply.headers["Tus-Max-Size"]) >= 1 << 30
    assert reply.headers["Mdbx-Chunk-Size"] == str(8 * MIB)


@pytest.mark.parametrize("size", [1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 12345])
def test_a_file_in_chunks_reads_back_identical(master, alice, node, size):
    data = os.urandom(size)
    url = create(master, alice, size, "/Photos/2026/a.jpg")
    state = head(master, alice, url)
    assert state.status_code == 200
    assert state.headers["Upload-Offset"] == "0"
    assert state.headers["Upload-Length"] == str(size)
    assert state.headers["Cache-Control"] == "no-store"
    assert "GMT" in state.headers["Upload-Expires"]
    send(master, alice, url, data, 8 * MIB)
    assert read_back(master, alice, "/Photos/2026/a.jpg") == data
    listed = master.get("/api/list", query_string={"path": "/Photos/2026"}, headers=alice).json
    [entry] = listed["entries"]
    assert entry["name"] == "a.jpg" and entry["size"] == size
    assert entry["hash"] == hashlib.sha256(data).hexdigest()
    done = head(master, alice, url)
    assert done.headers["Upload-Offset"] == done.headers["Upload-Length"] == str(size)


def test_odd_chunk_sizes_give_the_same_blocks_as_aligned_ones(master, alice, master_app):
    data = os.urandom(3 * BLOCK + 777)
    url = create(master, alice, len(data), "/odd.bin")
    send(master, alice, url, data, 1_500_001)  # not a divisor of the block size
    assert read_back(master, alice, "/odd.bin") == data
    record = master_app.extensions["mdbx.master"].store.get(hashlib.sha256(data).hexdigest())
    assert [b.size for b in record.blocks] == [BLOCK, BLOCK, BLOCK, 777]
    for block, start in zip(record.blocks, range(0, len(data), BLOCK), strict=True):
        assert block.hash == hashlib.sha256(data[start : start + BLOCK]).hexdigest()


def test_a_small_file_in_several_chunks_is_one_blob(master, alice, master_app):
    data = os.urandom(100_000)
    url = create(master, alice, len(data), "/small.bin")
    send(master, alice, url, data, 30_000)
    record = master_app.extensions["mdbx.master"].store.get(hashlib.sha256(data).hexdigest())
    assert record.blocks == () and record.size == len(data)
    assert read_back(master, alice, "/small.bin") == data


def test_a_patch_cut_short_keeps_what_arrived_and_resumes(master, alice):
    data = os.urandom(2 * BLOCK + 99)
    url = create(master, alice, len(data), "/cut.bin")
    half = BLOCK + 5
    # The client said it sends 6 MiB, and its connection broke after BLOCK + 5 bytes.
    cut = master.patch(
        url,
        input_stream=io.BytesIO(data[:half]),
        headers={**alice, "Upload-Offset": "0", "Content-Type": OCTETS},
        environ_overrides={"CONTENT_LENGTH": str(6 * MIB)},
    )
    assert cut.status_code == 204
    assert cut.headers["Upload-Offset"] == str(half)
    resumed_at = int(head(master, alice, url).headers["Upload-Offset"])
    assert resumed_at == half
    reply = patch(master, alice, url, resumed_at, data[resumed_at:])
    assert reply.status_code == 204 and reply.headers["Upload-Offset"] == str(len(data))
    assert read_back(master, alice, "/cut.bin") == data


def test_another_worker_takes_the_next_chunks_and_finishes(master, alice, tmp_path):
    data = os.urandom(2 * BLOCK + 1000)
    url = create(master, alice, len(data), "/other-worker.bin")
    assert patch(master, alice, url, 0, data[: BLOCK + 10]).status_code == 204
    # Another worker (or this master restarted) on the same database: it has no running
    # hash of the earlier bytes, nor the short block's bytes.
    other_app = make_master(tmp_path, {})
    try:
        other = make_client(other_app)
        assert head(other, alice, url).headers["Upload-Offset"] == str(BLOCK + 10)
        assert patch(other, alice, url, BLOCK + 10, data[BLOCK + 10 :]).status_code == 204
        stat = other.get("/api/stat", query_string={"path": "/other-worker.bin"}, headers=alice)
        assert stat.json["hash"] == hashlib.sha256(data).hexdigest()
        assert read_back(other, alice, "/other-worker.bin") == data
    finally:
        other_app.extensions["mdbx.master"].index.close()
    assert read_back(master, alice, "/other-worker.bin") == data


def test_a_wrong_offset_is_409_and_changes_nothing(master, alice):
    url = create(master, alice, 100)
    assert patch(master, alice, url, 0, b"x" * 10).status_code == 204
    for offset in (0, 5, 11):
        assert error(patch(master, alice, url, offset, b"y")) == (409, "offset_mismatch")
    assert head(master, alice, url).headers["Upload-Offset"] == "10"


def test_protocol_refusals(master, alice):
    url = create(master, alice, 100)
    wrong_type = master.patch(
        url,
        data=b"abc",
        headers={**alice, "Upload-Offset": "0", "Content-Type": "application/octet-stream"},
    )
    assert error(wrong_type) == (415, "unsupported_media_type")
    without_version = {k: v for k, v in alice.items() if k != "Tus-Resumable"}
    for method in ("head", "patch", "delete"):
        refused = getattr(master, method)(url, headers=without_version)
        assert refused.status_code == 412
        assert refused.headers["Tus-Version"] == "1.0.0"
    old = master.post("/api/tus/", headers={**alice, "Tus-Resumable": "0.2.2"})
    assert error(old) == (412, "unsupported_tus_version")
    no_length = master.post("/api/tus/", headers={**alice, "Upload-Metadata": metadata(path="/a")})
    assert error(no_length) == (400, "missing_field")
    bad_offset = patch(master, alice, url, 0, b"a", **{"Upload-Offset": "-1"})
    assert error(bad_offset) == (400, "invalid_header")
    assert error(master.post("/api/tus/", headers={"Upload-Length": "1", **TUS})) == (
        401,
        "missing_credentials",
    )
    assert head(master, alice, url).headers["Upload-Offset"] == "0"


@pytest.mark.parametrize(
    "header, code",
    [
        ("path !!notbase64", "invalid_metadata"),
        ("path " + base64.b64encode(b"\xff\xfe").decode(), "invalid_metadata"),
        (
            "path " + base64.b64encode("/a\udcff".encode("utf-8", "surrogatepass")).decode(),
            "invalid_metadata",
        ),
        ("path a,path b", "invalid_metadata"),
        (metadata(path="/a/../b"), "invalid_path"),
        (metadata(path="/a\x00b"), "invalid_path"),
        (metadata(path="/"), "invalid_path"),
        (metadata(other="x"), "missing_field"),
    ],
)
def test_bad_metadata_is_400(master, alice, header, code):
    reply = master.post(
        "/api/tus/", headers={**alice, "Upload-Length": "5", "Upload-Metadata": header}
    )
    assert error(reply) == (400, code)
    assert reply.headers["Tus-Resumable"] == "1.0.0"


def test_filename_alone_lands_at_the_root(master, alice):
    reply = master.post(
        "/api/tus/",
        headers={**alice, "Upload-Length": "3", "Upload-Metadata": metadata(filename="notes.txt")},
    )
    assert reply.status_code == 201
    assert patch(master, alice, reply.headers["Location"], 0, b"abc").status_code == 204
    assert read_back(master, alice, "/notes.txt") == b"abc"
    again = head(master, alice, reply.headers["Location"])
    assert again.headers["Upload-Metadata"] == metadata(filename="notes.txt")


def test_an_existing_file_becomes_a_version(master, alice):
    assert master.put("/api/files/doc.txt", data=b"first", headers=alice).status_code == 200
    url = create(master, alice, 6, "/doc.txt")
    assert patch(master, alice, url, 0, b"second").status_code == 204
    assert read_back(master, alice, "/doc.txt") == b"second"
    versions = master.get("/api/versions", query_string={"path": "/doc.txt"}, headers=alice).json
    assert [v["size"] for v in versions["versions"]] == [6, 5]


def test_over_quota_at_creation_as_put_says_it(master, alice):
    assert (
        master.patch(
            "/api/admin/users/alice", json={"quota_bytes": 1000}, headers=CLUSTER
        ).status_code
        == 200
    )
    put = master.put("/api/files/big.bin", data=b"x" * 1001, headers=alice)
    refused = master.post(
        "/api/tus/",
        headers={**alice, "Upload-Length": "1001", "Upload-Metadata": metadata(path="/big.bin")},
    )
    assert error(refused) == error(put) == (507, "quota_exceeded")
    assert create(master, alice, 1000, "/fits.bin")


def test_past_the_length_or_the_chunk_limit_nothing_is_stored(master, alice, node, master_app):
    url = create(master, alice, 10)
    before = blob_count(node)
    assert error(patch(master, alice, url, 0, b"x" * 11)) == (413, "upload_length_exceeded")
    chunked = master.patch(
        url,
        input_stream=io.BytesIO(b"x" * 11),
        headers={**alice, "Upload-Offset": "0", "Content-Type": OCTETS},
    )  # no Content-Length: counted as it arrives
    assert error(chunked) == (413, "upload_length_exceeded")
    assert head(master, alice, url).headers["Upload-Offset"] == "0"
    big = create(master, alice, 20 * MIB, "/big.bin")
    too_large = patch(master, alice, big, 0, b"y" * (8 * MIB + 1))
    assert error(too_large) == (413, "chunk_too_large")
    streamed = master.patch(
        big,
        input_stream=io.BytesIO(b"y" * (8 * MIB + 1)),
        headers={**alice, "Upload-Offset": "0", "Content-Type": OCTETS},
    )
    assert error(streamed) == (413, "chunk_too_large")
    assert head(master, alice, big).headers["Upload-Offset"] == "0"
    assert blob_count(node) == before


def test_terminate_deletes_the_blocks(master, alice, node):
    before = blob_count(node)
    url = create(master, alice, 3 * BLOCK)
    assert patch(master, alice, url, 0, os.urandom(2 * BLOCK)).status_code == 204
    assert patch(master, alice, url, 2 * BLOCK, b"z" * 10).status_code == 204
    assert blob_count(node) == before + 3
    assert master.delete(url, headers=alice).status_code == 204
    assert blob_count(node) == before
    assert head(master, alice, url).status_code == 404
    assert error(patch(master, alice, url, 0, b"x")) == (404, "upload_not_found")


def test_method_override_stands_for_patch_and_delete(master, alice):
    url = create(master, alice, 3)
    sent = master.post(
        url,
        data=b"abc",
        headers={
            **alice,
            "X-HTTP-Method-Override": "PATCH",
            "Upload-Offset": "0",
            "Content-Type": OCTETS,
        },
    )
    assert sent.status_code == 204 and sent.headers["Upload-Offset"] == "3"
    other = create(master, alice, 3, "/other.bin")
    gone = master.post(other, headers={**alice, "X-HTTP-Method-Override": "DELETE"})
    assert gone.status_code == 204
    assert head(master, alice, other).status_code == 404


def test_another_users_upload_is_404(master, alice):
    url = create(master, alice, 10)
    bob = login(master, "bob")
    assert head(master, bob, url).status_code == 404
    assert error(patch(master, bob, url, 0, b"x")) == (404, "upload_not_found")
    assert error(master.delete(url, headers=bob)) == (404, "upload_not_found")
    assert head(master, alice, url).headers["Upload-Offset"] == "0"


@pytest.mark.parametrize("overrides", [{"UPLOAD_TTL": 0.5}])
def test_an_expired_upload_is_gone_and_its_blocks_released(master, alice, master_app):
    url = create(master, alice, 2 * BLOCK)
    data = os.urandom(BLOCK + 1)
    assert patch(master, alice, url, 0, data).status_code == 204
    deadline = time.monotonic() + 5
    while head(master, alice, url).status_code == 200:
        assert time.monotonic() < deadline, "the upload never expired"
        time.sleep(0.1)
    assert error(patch(master, alice, url, BLOCK + 1, b"x")) == (404, "upload_not_found")
    # The repair pass's expiry and collection, as the background task runs them.
    service = master_app.extensions["mdbx.master"]
    assert service.uploads.uploads.expire() == 1
    purged = {blob.hash for blob in service.store.collect_garbage(time.time(), 100)}
    assert purged == {
        hashlib.sha256(data[:BLOCK]).hexdigest(),
        hashlib.sha256(data[BLOCK:]).hexdigest(),
    }


def test_a_zero_byte_file_is_there_at_creation(master, alice):
    url = create(master, alice, 0, "/empty.txt")
    assert read_back(master, alice, "/empty.txt") == b""
    state = head(master, alice, url)
    assert state.headers["Upload-Offset"] == state.headers["Upload-Length"] == "0"


def test_creation_with_upload_stores_the_first_chunk(master, alice):
    reply = master.post(
        "/api/tus/",
        data=b"hello",
        headers={
            **alice,
            "Upload-Length": "11",
            "Upload-Metadata": metadata(path="/hello.txt"),
            "Content-Type": OCTETS,
        },
    )
    assert reply.status_code == 201 and reply.headers["Upload-Offset"] == "5"
    assert patch(master, alice, reply.headers["Location"], 5, b" world").status_code == 204
    assert read_back(master, alice, "/hello.txt") == b"hello world"
