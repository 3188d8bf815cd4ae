"""Bytes that are not UTF-8 outside JSON bodies (#17): URL paths, queries, form fields.

Each is a 400 where it is decoded, never a 500, and never a name the client did not send
(werkzeug would turn a path's bad bytes into U+FFFD and keep a query's percent-encoded).
"""

from __future__ import annotations

import pytest

from app.factory import create_app
from app.server.connection import FAST_PATH, FastRequest
from tests.support.apps import make_client

# A lone surrogate's UTF-8 bytes (not UTF-8 at all), and a byte that never is.
SURROGATE = "%ED%A0%80"
# WSGI's PATH_INFO: the percent-decoded bytes as latin-1 text, as gunicorn hands it over.
RAW_PATH = b"\xed\xa0\x80".decode("latin-1")


@pytest.fixture
def api(tmp_path):
    app = create_app("master", {"DATA_DIR": str(tmp_path / "m"), "BACKGROUND_TASKS": False})
    client = make_client(app)
    client.post("/api/admin/users", json={"username": "alice", "password": "pw"})
    token = client.post("/api/login", json={"username": "alice", "password": "pw"}).json["token"]
    yield client, {"Authorization": f"Bearer {token}"}
    app.extensions["mdbx.master"].index.close()


def error(reply) -> tuple[int, str]:
    return reply.status_code, reply.json["error"]["code"]


@pytest.mark.parametrize(
    "method, path",
    [
        ("PUT", "/api/files/{}"),
        ("GET", "/api/files/docs/{}"),
        ("DELETE", "/api/files/{}"),
        ("DELETE", "/api/shares/{}"),
        ("GET", "/s/{}"),
        ("PUT", "/upload/{}"),
    ],
)
def test_a_path_that_is_not_utf8_is_400(api, method, path):
    client, auth = api
    url = path.format("x")
    raw = path.format(RAW_PATH)
    reply = client.open(
        url, method=method, headers=auth, data=b"abc", environ_overrides={"PATH_INFO": raw}
    )
    assert error(reply) == (400, "invalid_url")


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/list?path=/{}"),
        ("GET", "/api/stat?path={}"),
        ("GET", "/api/versions?path=/a{}"),
        ("GET", "/s/token?password={}"),
        ("PUT", "/upload?name={}"),
        ("GET", "/get?hash={}"),
        ("POST", "/assign?count={}"),
    ],
)
def test_a_query_that_is_not_utf8_is_400(api, method, path):
    client, auth = api
    for bad in (SURROGATE, "%FF", "%C3"):
        url, _, query = path.format(bad).partition("?")
        reply = client.open(url, method=method, headers=auth, data=b"abc", query_string=query)
        assert error(reply) == (400, "invalid_url"), bad


def test_utf8_paths_and_queries_still_work(api):
    client, auth = api
    assert (
        client.post("/api/mkdir", json={"path": "/caf\u00e9 \U0001f600"}, headers=auth).status_code
        == 200
    )
    listed = client.get("/api/list", query_string="path=%2F", headers=auth)
    assert [e["name"] for e in listed.json["entries"]] == ["caf\u00e9 \U0001f600"]
    stat = client.get("/api/stat", query_string="path=/caf%C3%A9+%F0%9F%98%80", headers=auth)
    assert stat.status_code == 200 and stat.json["path"] == "/caf\u00e9 \U0001f600"


def test_the_node_refuses_them_on_both_paths(node_app, node_client):
    fast = node_app.extensions[FAST_PATH]
    for query in (f"name={SURROGATE}", "hash=%FF", "kind=%C3"):
        reply = node_client.put("/upload", data=b"abc", query_string=query)
        assert error(reply) == (400, "invalid_url")
        # The fast path hands such a request to Flask rather than guess.
        request = FastRequest(b"PUT", f"/upload?{query}".encode(), {}, b"abc")
        assert fast.handler(request) is None
    reply = node_client.get("/retrieve", query_string=f"hash={SURROGATE}")
    assert error(reply) == (400, "invalid_url")
    assert fast.handler(FastRequest(b"GET", f"/retrieve?hash={SURROGATE}".encode(), {})) is None


def test_form_fields_that_are_not_utf8_are_400(node_client):
    boundary = "b0undary"

    def form(disposition: bytes, value: bytes) -> bytes:
        return (
            f"--{boundary}\r\n".encode()
            + b"Content-Disposition: form-data; "
            + disposition
            + b"\r\n\r\n"
            + value
            + f"\r\n--{boundary}\r\n".encode()
            + b'Content-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nabc'
            + f"\r\n--{boundary}--\r\n".encode()
        )

    content_type = f"multipart/form-data; boundary={boundary}"
    for body in (
        form(b'name="hash"', b"\xed\xa0\x80"),  # a field's value
        form(b'name="\xff"', b"x"),  # a field's name
        form(b'name="file"; filename="\xed\xa0\x80"', b"x"),  # a file name
    ):
        reply = node_client.post("/upload", data=body, content_type=content_type)
        assert error(reply) == (400, "malformed_multipart")
