"""Every JSON endpoint decodes its body through one decoder with one limit each, and
multipart part headers are bounded (#17): never a 500 from what a client sends, never a
body read whole before it is judged."""

from __future__ import annotations

import io

import pytest

from app.factory import create_app
from app.http.jsonbody import body_limit
from tests.support.apps import make_client

JSON = {"Content-Type": "application/json"}
SECRET = "s" * 32

# (method, URL, Flask endpoint) of every view that reads a JSON body.
MASTER_ENDPOINTS = [
    ("POST", "/register", "master.register"),
    ("POST", "/uploads", "master.begin_upload"),
    ("POST", "/nodes/heartbeat", "master.heartbeat"),
    ("POST", "/nodes/register", "master.register_copies"),
    ("POST", "/nodes/inventory", "master.inventory"),
    ("POST", "/nodes/bad-copy", "master.bad_copy"),
    ("POST", "/api/login", "api.login"),
    ("POST", "/api/mkdir", "api.mkdir"),
    ("POST", "/api/move", "api.move"),
    ("POST", "/api/copy", "api.copy"),
    ("POST", "/api/restore", "api.restore"),
    ("POST", "/api/shares", "api.create_share"),
    ("POST", "/api/admin/users", "api.add_user"),
    ("PATCH", "/api/admin/users/alice", "api.change_user"),
]

BAD_BODIES = {
    # Within every limit, yet 32,000 levels deep: a RecursionError (500) before.
    "deep": b'{"path": ' + b"[" * 8000 + b"]" * 8000 + b"}",
    "int beyond 64 bits": b'{"size": 9223372036854775808, "quota_bytes": 9223372036854775808}',
    "400 digits": b'{"expires_in": ' + b"9" * 400 + b', "path": "/a"}',
    "NaN": b'{"size": NaN, "path": "/a"}',
    "Infinity": b'{"size": Infinity, "free_bytes": Infinity}',
    "-Infinity": b'{"sync_started": -Infinity}',
    "1e400": b'{"sync_started": 1e400, "expires_in": 1e400}',
    "lone surrogate": b'{"username": "alice", "password": "\\ud800", "path": "/\\ud800", '
    b'"trash_id": "\\udc00", "name": "\\ud800", "hash": "\\ud800"}',
    "surrogate key": b'{"\\ud800": 1}',
    "not UTF-8": b'{"path": "/\xff", "username": "\xe9"}',
}


@pytest.fixture
def master(tmp_path):
    app = create_app(
        "master",
        {
            "DATA_DIR": str(tmp_path / "m"),
            "BACKGROUND_TASKS": False,
            "LOGIN_RATE_LIMIT": "1000 per minute",
        },
    )
    client = make_client(app)
    assert client.post("/api/admin/users", json={"username": "alice", "password": "pw"}).json
    token = client.post("/api/login", json={"username": "alice", "password": "pw"}).json["token"]
    yield client, {"Authorization": f"Bearer {token}"}
    app.extensions["mdbx.master"].index.close()


def send(client, method: str, url: str, headers: dict[str, str], **kwargs):
    return client.open(url, method=method, headers={**JSON, **headers}, **kwargs)


def send_counted(client, method: str, url: str, headers: dict[str, str], body, **kwargs):
    return client.open(url, method=method, headers={**JSON, **headers}, input_stream=body, **kwargs)


def error(reply) -> tuple[int, str]:
    return reply.status_code, reply.json["error"]["code"]


@pytest.mark.parametrize("method, url, endpoint", MASTER_ENDPOINTS)
def test_bad_json_is_400_on_every_master_endpoint(master, method, url, endpoint):
    client, auth = master
    for kind, body in BAD_BODIES.items():
        reply = send(client, method, url, auth, data=body)
        assert error(reply) == (400, "invalid_json"), (kind, reply.json)


def test_bad_json_is_400_on_the_node(node_client):
    for kind, body in BAD_BODIES.items():
        reply = node_client.post("/replicate", data=body, headers=JSON)
        assert error(reply) == (400, "invalid_json"), kind


@pytest.mark.parametrize("url", ["/register", "/api/login", "/api/mkdir"])
def test_the_issues_deep_array_is_refused(master, url):
    client, auth = master
    reply = send(client, "POST", url, auth, data=b"[" * 100_000 + b"]" * 100_000)
    assert reply.status_code in (400, 413) and reply.json["error"]["code"] in (
        "invalid_json",
        "payload_too_large",
    )


class CountingStream(io.RawIOBase):
    """``size`` bytes of blanks, made as they are read, and a count of those read (the
    test client measures a body by seeking to its end, which reads nothing)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = offset if whence == 0 else self.size + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        count = max(0, min(len(buffer), self.size - self.position))
        buffer[:count] = b" " * count
        self.position += count
        self.read_bytes += count
        return count


# What gunicorn hands the app for a chunked body: no length, an input that ends itself.
CHUNKED = {"environ_overrides": {"wsgi.input_terminated": True}}
CHUNKED_HEADER = {"Transfer-Encoding": "chunked"}


@pytest.mark.parametrize("method, url, endpoint", MASTER_ENDPOINTS)
def test_a_body_over_the_limit_is_refused_before_it_is_read(master, method, url, endpoint):
    client, auth = master
    limit = body_limit(endpoint)
    body = CountingStream(limit + 1)
    reply = send_counted(client, method, url, {**auth, "Content-Length": str(limit + 1)}, body)
    assert error(reply) == (413, "payload_too_large")
    assert body.read_bytes == 0


@pytest.mark.parametrize("method, url, endpoint", MASTER_ENDPOINTS)
def test_a_chunked_body_is_read_only_up_to_the_limit(master, method, url, endpoint):
    client, auth = master
    limit = body_limit(endpoint)
    body = CountingStream(50 * 1024 * 1024)
    reply = send_counted(client, method, url, {**auth, **CHUNKED_HEADER}, body, **CHUNKED)
    assert error(reply) == (413, "payload_too_large")
    assert body.read_bytes <= limit + 1


def test_a_50_mb_register_and_a_24_mb_secured_login_are_not_read(tmp_path):
    app = create_app(
        "master",
        {"DATA_DIR": str(tmp_path / "m"), "BACKGROUND_TASKS": False, "CLUSTER_SECRET": SECRET},
    )
    try:
        client = make_client(app)
        secret = {"X-Mdbx-Cluster-Secret": SECRET}
        for url, size, headers in (
            ("/register", 50_000_000, secret),
            ("/api/login", 24_000_000, {}),  # no credentials: login needs none
        ):
            body = CountingStream(size)
            reply = client.post(
                url, input_stream=body, headers={**JSON, **headers, "Content-Length": str(size)}
            )
            assert error(reply) == (413, "payload_too_large") and body.read_bytes == 0
            body = CountingStream(size)
            reply = client.post(
                url, input_stream=body, headers={**JSON, **headers, **CHUNKED_HEADER}, **CHUNKED
            )
            assert error(reply) == (413, "payload_too_large")
            assert body.read_bytes <= 1024 * 1024
    finally:
        app.extensions["mdbx.master"].index.close()


def test_numbers_beyond_a_bigint_are_invalid_fields(master):
    client, auth = master
    for field in ("quota_bytes",):
        added = client.post(
            "/api/admin/users", json={"username": "bob", "password": "p", field: 1e300}
        )
        assert error(added) == (400, "invalid_field") and added.json["error"]["field"] == field
        changed = client.patch("/api/admin/users/alice", json={field: 9.3e18})
        assert error(changed) == (400, "invalid_field")
    assert (
        client.patch("/api/admin/users/alice", json={"quota_bytes": 2**63 - 1}).status_code == 200
    )
    client.post("/api/mkdir", json={"path": "/d"}, headers=auth)
    share = client.post("/api/shares", json={"path": "/d", "expires_in": 1e300}, headers=auth)
    assert error(share) == (400, "invalid_field") and share.json["error"]["field"] == "expires_in"
    heartbeat = {"node": "n1", "url": "http://127.0.0.1:1", "free_bytes": 1e30}
    assert error(client.post("/nodes/heartbeat", json=heartbeat)) == (400, "invalid_field")


def test_a_body_the_login_limit_read_is_not_read_again(master):
    client, _auth = master
    reply = client.post(
        "/api/login",
        input_stream=io.BytesIO(b'{"username": "alice", "password": "pw"}'),
        headers={**JSON, **CHUNKED_HEADER},
        **CHUNKED,
    )
    assert reply.status_code == 200 and reply.json["username"] == "alice"


@pytest.mark.parametrize("role", ["node", "master"])
def test_a_16_mib_multipart_part_header_is_refused(master, node_client, role):
    client = node_client if role == "node" else master[0]
    head = 'Content-Disposition: form-data; name="file"; filename="a.txt"\r\nX-Pad: '
    body = f"--b\r\n{head}{'a' * (16 << 20)}\r\n\r\nabc\r\n--b--\r\n".encode()
    # Chunked: a node refuses a Content-Length over its upload limit before reading.
    reply = client.post(
        "/upload",
        input_stream=io.BytesIO(body),
        headers={"Content-Type": "multipart/form-data; boundary=b", **CHUNKED_HEADER},
        **CHUNKED,
    )
    assert error(reply) == (413, "payload_too_large")
