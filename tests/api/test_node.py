from __future__ import annotations

import hashlib
import io
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from app.cluster.master_client import Registered
from app.factory import create_app
from tests.support.apps import make_client
from tests.support.node_temp import stray_temp_files


def upload(client: FlaskClient, data: bytes, name: str = "hello.txt", **extra: str):
    form = {"file": (io.BytesIO(data), name), **extra}
    return client.post("/upload", data=form, content_type="multipart/form-data")


def temp_files(app: Flask) -> list[Path]:
    return stray_temp_files(Path(app.config["DATA_DIR"]))


def test_upload_stores_under_sha256_and_reports_the_reference_fields(node_client, node_app):
    payload = b"Hello Mini-Dropbox!\n"
    response = upload(node_client, payload)
    assert response.status_code == 200
    body = response.json
    digest = hashlib.sha256(payload).hexdigest()
    assert body["success"] is True
    assert body["hash"] == digest
    assert body["name"] == "hello.txt"
    assert body["size"] == len(payload)
    assert body["node"] == str(node_app.config["PORT"])
    assert body["deduplicated"] is False
    # The master of this fixture is unreachable: the bytes are durable all the same.
    assert body["registered"] is False
    stored = Path(node_app.config["DATA_DIR"]) / "blobs" / digest[:2] / digest[2:4] / digest
    assert stored.read_bytes() == payload
    assert temp_files(node_app) == []


def test_second_upload_of_same_bytes_is_deduplicated(node_client, node_app):
    first = upload(node_client, b"same bytes", "a.txt").json
    second = upload(node_client, b"same bytes", "b.txt").json
    assert first["hash"] == second["hash"]
    assert second["deduplicated"] is True
    assert node_client.get("/health").json["files"] == 1


def test_retrieve_streams_bytes_with_cache_headers(node_client):
    payload = b"x" * 5000
    digest = upload(node_client, payload, "notes.txt").json["hash"]
    response = node_client.get(f"/retrieve?hash={digest}")
    assert response.status_code == 200
    assert response.data == payload
    assert response.headers["Content-Length"] == "5000"
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["ETag"] == f'"{digest}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    cache_control = response.headers["Cache-Control"]
    assert "immutable" in cache_control and "max-age=31536000" in cache_control
    assert "public" in cache_control


def test_retrieve_honours_range_and_if_none_match(node_client):
    payload = bytes(range(256)) * 4
    digest = upload(node_client, payload, "blob.bin").json["hash"]
    ranged = node_client.get(f"/retrieve?hash={digest}", headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206
    assert ranged.data == payload[10:20]
    assert ranged.headers["Content-Range"] == f"bytes 10-19/{len(payload)}"
    unsatisfiable = node_client.get(f"/retrieve?hash={digest}", headers={"Range": "bytes=5000-"})
    assert unsatisfiable.status_code == 416
    cached = node_client.get(f"/retrieve?hash={digest}", headers={"If-None-Match": f'"{digest}"'})
    assert cached.status_code == 304
    assert cached.data == b""
    # The test client, unlike a WSGI server, leaves closing a bodiless response to us.


def test_uppercase_hash_is_accepted(node_client):
    digest = upload(node_client, b"case").json["hash"]
    assert node_client.get(f"/retrieve?hash={digest.upper()}").data == b"case"


def test_malformed_hash_is_400_and_never_touches_the_filesystem(node_client):
    for bad in ("../../etc/passwd", "abc", "z" * 64, "a" * 63, "%2e%2e%2f" * 8, ""):
        response = node_client.get("/retrieve", query_string={"hash": bad})
        assert response.status_code == 400, bad
        assert response.json["error"]["code"] == "invalid_hash"


def test_md5_hash_is_refused(node_client):
    response = node_client.get("/retrieve?hash=" + hashlib.md5(b"x").hexdigest())
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_hash"


def test_unknown_hash_is_404(node_client):
    response = node_client.get("/retrieve?hash=" + "0" * 64)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "blob_not_found"


def test_wrong_method_is_405_json(node_client):
    response = node_client.get("/upload")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_missing_file_field_is_400(node_client):
    response = node_client.post("/upload", data={"other": "x"}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.json["error"] == {
        "code": "missing_field",
        "message": "multipart field 'file' (a file) is required",
        "field": "file",
    }


def test_non_multipart_upload_is_415(node_client):
    response = node_client.post("/upload", data=b"raw", content_type="application/octet-stream")
    assert response.status_code == 415
    assert response.json["error"]["code"] == "unsupported_media_type"


def test_malformed_multipart_is_400(node_client):
    body = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc'
    response = node_client.post(
        "/upload", data=body, content_type="multipart/form-data; boundary=b"
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "malformed_multipart"


def test_two_files_in_one_request_are_refused(node_client, node_app):
    form = {"file": [(io.BytesIO(b"one"), "1.txt"), (io.BytesIO(b"two"), "2.txt")]}
    response = node_client.post("/upload", data=form, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "too_many_files"
    assert temp_files(node_app) == []
    assert node_client.get("/health").json["files"] == 0


def test_oversize_upload_is_413_and_leaves_no_file(tmp_path, dead_url):
    app = create_app(
        "node",
        {
            "DATA_DIR": str(tmp_path),
            "MASTER": dead_url,
            "BACKGROUND_TASKS": False,
            "MAX_UPLOAD_SIZE": 1000,
            "MIN_FREE_BYTES": 0,
        },
    )
    client = make_client(app)
    response = upload(client, b"y" * 1001)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert temp_files(app) == []
    assert list((tmp_path / "blobs").rglob("*")) == []
    assert upload(client, b"y" * 1000).status_code == 200


def test_upload_without_free_disk_is_507(tmp_path, dead_url):
    app = create_app(
        "node",
        {
            "DATA_DIR": str(tmp_path),
            "MASTER": dead_url,
            "BACKGROUND_TASKS": False,
            "MIN_FREE_BYTES": 2**62,
        },
    )
    response = upload(make_client(app), b"no room")
    assert response.status_code == 507
    assert response.json["error"]["code"] == "insufficient_storage"
    assert temp_files(app) == []


def test_expected_hash_is_verified(node_client, node_app):
    wrong = "1" * 64
    response = upload(node_client, b"payload", hash=wrong)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "hash_mismatch"
    assert temp_files(node_app) == []
    right = hashlib.sha256(b"payload").hexdigest()
    assert upload(node_client, b"payload", hash=right).json["hash"] == right


def test_filename_is_reduced_to_a_safe_display_name(node_client):
    body = upload(node_client, b"evil", "../../etc/pass\x07wd").json
    assert body["name"] == "passwd"
    nameless = upload(node_client, b"nameless", "").json
    assert nameless["name"] == nameless["hash"]


def test_health_reports_counts_and_free_space(node_client):
    upload(node_client, b"12345", "a.bin")
    body = node_client.get("/health").json
    assert body["status"] == "OK"
    assert body["files"] == 1
    assert body["bytes_stored"] == 5
    assert body["free_bytes"] > 0
    assert body["unregistered"] == 1


def test_copies_are_marked_registered_when_the_master_acknowledges_or_writes_them(
    node_app, node_client, monkeypatch
):
    service = node_app.extensions["mdbx.node"]
    monkeypatch.setattr(
        service.master,
        "register",
        lambda copies: Registered([{"hash": c.hash, "replicate_to": []} for c in copies], []),
    )
    acknowledged = upload(node_client, b"first", "1.bin").json
    assert acknowledged["registered"] is True
    # In the transaction that catalogues it: the background sync re-reports unmarked
    # copies, which could bring back a copy deleted (trimmed) in between.
    assert service.catalog.get(acknowledged["hash"]).registered is True
    written = node_client.put("/upload?name=2.bin&register=0", data=b"by a master").json
    assert service.catalog.get(written["hash"]).registered is True
    assert node_client.get("/health").json["unregistered"] == 0
