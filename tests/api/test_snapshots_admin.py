"""The admin endpoints of backup and recovery through the Flask test client, over one real
node: a snapshot taken, listed, downloaded and restored; bad bytes are a 400; in secured
mode only the cluster or an administrator may call them."""

from __future__ import annotations

import gzip
import hashlib
import io
import secrets

import pytest

from app.config import MIN_BLOCK_SIZE
from app.factory import create_app
from app.security import CLUSTER_HEADER
from tests.support.apps import make_client
from tests.support.user_master import put_file, user_master

SECRET = "test-cluster-secret-0123456789"


def test_a_snapshot_is_taken_listed_downloaded_and_restored(tmp_path, dead_url):
    with user_master(tmp_path, dead_url) as (_app, client):
        put_file(client, "/kept.txt", b"kept\n")
        taken = client.post("/admin/snapshots")
        assert taken.status_code == 200, taken.json
        digest = taken.json["hash"]
        assert taken.json["copies"] == ["n1"]
        listed = client.get("/admin/snapshots").json["snapshots"]
        assert [s["hash"] for s in listed] == [digest]
        data = client.get(f"/admin/snapshots/{digest}")
        assert data.status_code == 200 and hashlib.sha256(data.data).hexdigest() == digest

        put_file(client, "/later.txt", b"after the snapshot\n")
        latest = client.post("/admin/restore?latest=1")
        assert latest.status_code == 200, latest.json
        assert latest.json["snapshot"]["hash"] == digest and latest.json["users"] == 2
        # The restored tree has no later.txt; the token of the test client still works.
        assert client.get("/api/files/later.txt").status_code == 404
        assert client.get("/api/files/kept.txt").data == b"kept\n"
        again = client.post(
            "/admin/restore", data=data.data, headers={"Content-Type": "application/gzip"}
        )
        assert again.status_code == 200 and again.json["entries"] == 1


@pytest.mark.parametrize("body", [b"", b"plain text", gzip.compress(b"not a database")])
def test_bytes_that_are_no_snapshot_are_a_400(tmp_path, dead_url, body):
    with user_master(tmp_path, dead_url) as (_app, client):
        reply = client.post("/admin/restore", data=body)
        assert reply.status_code == 400 and reply.json["error"]["code"] == "invalid_snapshot"
        missing = client.get(f"/admin/snapshots/{'0' * 64}")
        assert missing.status_code == 404
        assert missing.json["error"]["code"] == "snapshot_not_found"
        assert client.get("/admin/snapshots/nothex").json["error"]["code"] == "invalid_hash"


def test_only_the_cluster_or_an_admin_may_call_them_in_secured_mode(tmp_path):
    app = create_app(
        "master",
        {"DATA_DIR": str(tmp_path / "master"), "BACKGROUND_TASKS": False, "CLUSTER_SECRET": SECRET},
    )
    client = make_client(app)
    cluster = {CLUSTER_HEADER: SECRET}
    added = client.post(
        "/api/admin/users", json={"username": "bob", "password": "pw-bob-123"}, headers=cluster
    )
    assert added.status_code == 200, added.json
    token = client.post("/api/login", json={"username": "bob", "password": "pw-bob-123"}).json[
        "token"
    ]
    try:
        for method, path in (
            ("GET", "/admin/snapshots"),
            ("POST", "/admin/snapshots"),
            ("POST", "/admin/restore"),
            ("GET", "/admin/recover"),
            ("POST", "/admin/recover"),
        ):
            assert client.open(path, method=method).status_code == 401
            as_user = client.open(path, method=method, headers={"Authorization": f"Bearer {token}"})
            assert as_user.status_code == 403
        assert client.get("/admin/snapshots", headers=cluster).json == {"snapshots": []}
        status = client.get("/admin/recover", headers=cluster).json
        assert status["recovering"] is False
    finally:
        app.extensions["mdbx.master"].index.close()


def test_a_snapshot_larger_than_a_block_is_stored_as_blocks_and_read_back(tmp_path, dead_url):
    """BLOCK_SIZE is 64 KiB here: a batch of files with random names makes the user trees'
    snapshot larger, and it is cut into private blocks listed by a manifest (the blob of
    kind "snapshot"), listed, downloaded whole and restored as a one-blob snapshot is."""
    with user_master(tmp_path, dead_url) as (_app, client):
        names = [secrets.token_hex(40) for _ in range(400)]
        batch = client.post(
            "/api/batch",
            query_string={"dir": "/many"},
            data={name: (io.BytesIO(name.encode()), name) for name in names},
            content_type="multipart/form-data",
        )
        assert batch.status_code == 200, batch.json
        taken = client.post("/admin/snapshots")
        assert taken.status_code == 200, taken.json
        digest, manifest = taken.json["hash"], taken.json["manifest"]
        assert taken.json["size"] > MIN_BLOCK_SIZE and manifest
        assert taken.json["blocks"] == -(-taken.json["size"] // MIN_BLOCK_SIZE)
        assert taken.json["copies"] == ["n1"]
        listed = client.get("/admin/snapshots").json["snapshots"]
        assert [(s["hash"], s["manifest"], s["copies"]) for s in listed] == [
            (digest, manifest, ["n1"])
        ]
        data = client.get(f"/admin/snapshots/{digest}")
        assert data.status_code == 200 and hashlib.sha256(data.data).hexdigest() == digest

        put_file(client, "/later.txt", b"after the snapshot\n")
        latest = client.post("/admin/restore?latest=1")
        assert latest.status_code == 200, latest.json
        assert latest.json["snapshot"]["hash"] == digest and latest.json["entries"] == 401
        assert client.get("/api/files/later.txt").status_code == 404
        assert client.get(f"/api/files/many/{names[7]}").data == names[7].encode()
        again = client.post(
            "/admin/restore", data=data.data, headers={"Content-Type": "application/gzip"}
        )
        assert again.status_code == 200 and again.json["entries"] == 401


def test_a_snapshot_past_snapshot_max_bytes_is_507_and_not_kept(tmp_path, dead_url):
    with user_master(tmp_path, dead_url, SNAPSHOT_MAX_BYTES=1000) as (_app, client):
        refused = client.post("/admin/snapshots")
        assert refused.status_code == 507, refused.json
        assert refused.json["error"]["code"] == "snapshot_too_large"
        assert client.get("/admin/snapshots").json == {"snapshots": []}
