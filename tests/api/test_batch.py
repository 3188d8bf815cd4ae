"""POST /api/batch through the Flask test client onto a real node: many small files in
one request, a result per file (stored, or its own error), and the request's limits."""

from __future__ import annotations

import hashlib

import pytest
from urllib3.filepost import encode_multipart_formdata

from app.config import MIN_BLOCK_SIZE
from tests.support.user_master import error, user_master


@pytest.fixture
def api(tmp_path, dead_url):
    # BLOCK_SIZE is MIN_BLOCK_SIZE (64 KiB) here: the largest file a batch takes.
    with user_master(tmp_path, dead_url) as (app, client):
        yield app, client


def send(client, files, folder="/in", **kwargs):
    # Encoded as requests (the sync client) and curl encode a form: werkzeug's test
    # client leaves out the line break that ends an empty part, which the parser refuses.
    body, content_type = encode_multipart_formdata(
        [(name, (filename, data)) for name, filename, data in files]
    )
    return client.post(
        "/api/batch",
        query_string={"dir": folder},
        data=body,
        content_type=content_type,
        **kwargs,
    )


def test_a_batch_stores_each_file_and_answers_each(api):
    _app, client = api
    files = [
        ("a.txt", "a.txt", b"alpha"),
        ("sub/deep/b.bin", "b.bin", b"\x00" * 1000),
        ("file", "named-by-filename.txt", b"gamma"),
        ("../escape", "x", b"no"),
        ("big", "big", b"x" * (MIN_BLOCK_SIZE + 1)),
        ("empty", "empty", b""),
    ]
    reply = send(client, files)
    assert reply.status_code == 200, reply.json
    results = reply.json["results"]
    assert results[0] == {
        "path": "/in/a.txt",
        "size": 5,
        "hash": hashlib.sha256(b"alpha").hexdigest(),
        "version": 1,
    }
    assert [r["path"] for r in results] == [
        "/in/a.txt",
        "/in/sub/deep/b.bin",
        "/in/named-by-filename.txt",
        "../escape",
        "/in/big",
        "/in/empty",
    ]
    assert results[3]["error"]["code"] == "invalid_path"
    assert results[4]["error"]["code"] == "too_large"
    for path, body in (("/in/sub/deep/b.bin", b"\x00" * 1000), ("/in/empty", b"")):
        read = client.get(f"/api/files{path}")
        assert read.status_code == 200 and read.data == body
    assert client.get("/api/stat", query_string={"path": "/in/big"}).status_code == 404
    # Again: each file becomes a new version; the feed saw every entry.
    again = send(client, [("a.txt", "a.txt", b"alpha 2")]).json["results"]
    assert again[0]["version"] == 2
    tree = client.get("/api/tree", query_string={"path": "/in"}).json["entries"]
    assert [e["path"] for e in tree] == [
        "/in/a.txt",
        "/in/empty",
        "/in/named-by-filename.txt",
        "/in/sub",
        "/in/sub/deep",
        "/in/sub/deep/b.bin",
    ]


def test_each_file_meets_the_quota_and_the_folders_in_its_way(api):
    _app, client = api
    assert client.patch("/api/admin/users/alice", json={"quota_bytes": 100}).status_code == 200
    assert client.post("/api/mkdir", json={"path": "/in/taken"}).status_code == 200
    files = [
        ("one", "one", b"1" * 60),
        ("two", "two", b"2" * 60),  # 120 > 100
        ("taken", "taken", b"3"),  # a folder is there
        ("four", "four", b"4" * 30),
    ]
    results = send(client, files).json["results"]
    assert [r.get("error", {}).get("code") for r in results] == [
        None,
        "quota_exceeded",
        "is_a_directory",
        None,
    ]
    assert client.get("/api/account").json["used_bytes"] == 90


def test_too_many_files_or_bytes_is_413_before_storing(api):
    _app, client = api
    many = [(f"f{n}", f"f{n}", b"") for n in range(1001)]
    assert error(send(client, many)) == (413, "payload_too_large")
    # Refused on its Content-Length alone (the test client sends one byte of it).
    huge = client.post(
        "/api/batch",
        data=b"x",
        content_type="multipart/form-data; boundary=b",
        environ_overrides={"CONTENT_LENGTH": str(64 * 1024 * 1024 + 1)},
    )
    assert error(huge) == (413, "payload_too_large")
    assert client.get("/api/tree").json["entries"] == []
    assert error(send(client, [("a", "a", b"a")], folder="/x/../y")) == (400, "invalid_path")
    client.environ_base.pop("HTTP_AUTHORIZATION")
    assert error(send(client, [("a", "a", b"a")])) == (401, "missing_credentials")
