"""Share links through the Flask test client: password guesses limited per link and per
address, links of disabled users, and URLs built on PUBLIC_URL, not on Host.

The shared file is empty: its content is read without any node (round trips of real
content: tests/e2e/test_accounts.py)."""

from __future__ import annotations

import hashlib

import pytest

from app.factory import create_app
from app.metadata.accounts import UserStore
from app.metadata.namespace import NamespaceStore
from app.metadata.records import FileRecord
from tests.support.apps import make_client

EMPTY = hashlib.sha256(b"").hexdigest()
GUESSES = 3


def make_api(tmp_path, **overrides):
    app = create_app(
        "master",
        {
            "DATA_DIR": str(tmp_path / "master"),
            "BACKGROUND_TASKS": False,
            "LOGIN_RATE_LIMIT": f"{GUESSES} per minute",
            **overrides,
        },
    )
    client = make_client(app)
    added = client.post("/api/admin/users", json={"username": "alice", "password": "pw-alice"})
    assert added.status_code == 200, added.json
    # An empty private file in alice's tree, as PUT /api/files would leave it.
    catalogue = app.extensions["mdbx.master"].store
    catalogue.register(FileRecord(EMPTY, "empty.txt", 0, (), public=False))
    alice = UserStore(catalogue.engine).get("alice").id
    NamespaceStore(catalogue.engine).put_file(alice, "/empty.txt", EMPTY, 0, 0)
    # Logged in once: logins are limited too.
    reply = client.post("/api/login", json={"username": "alice", "password": "pw-alice"})
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {reply.json['token']}"
    return app, client


@pytest.fixture
def api(tmp_path):
    app, client = make_api(tmp_path)
    yield client
    app.extensions["mdbx.master"].index.close()


def share(client, **options) -> str:
    reply = client.post("/api/shares", json={"path": "/empty.txt", **options})
    assert reply.status_code == 200, reply.json
    return reply.json["url"].split("/s/", 1)[1]


def open_link(client, token: str, address: str = "192.0.2.1", password: str | None = None):
    return client.get(
        f"/s/{token}",
        query_string={"password": password} if password else None,
        environ_base={"REMOTE_ADDR": address},
    )


def test_password_guesses_are_limited_per_link(api):
    token = share(api, password="open sesame")
    assert open_link(api, token).status_code == 401  # no password: a guess too
    for address in ("192.0.2.2", "192.0.2.3"):
        assert open_link(api, token, address, "guess").status_code == 403
    # Even the right password, from an address that never guessed: the check is not run.
    limited = open_link(api, token, "192.0.2.4", "open sesame")
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "rate_limit_exceeded"  # as for logins
    assert int(limited.headers["Retry-After"]) > 0
    # Another link is not limited by this one's guesses.
    other = share(api, password="other")
    assert open_link(api, other, "192.0.2.5", "other").status_code == 200


def test_password_guesses_are_limited_per_address(api):
    links = [share(api, password=f"secret-{n}") for n in range(GUESSES + 1)]
    for token in links[:GUESSES]:
        assert open_link(api, token, "192.0.2.7", "guess").status_code == 403
    assert open_link(api, links[GUESSES], "192.0.2.7", f"secret-{GUESSES}").status_code == 429
    assert open_link(api, links[GUESSES], "192.0.2.8", f"secret-{GUESSES}").status_code == 200


def test_right_answers_are_not_counted(api):
    public, locked = share(api), share(api, password="open sesame")
    for _ in range(3 * GUESSES):
        assert open_link(api, public).status_code == 200
        assert open_link(api, locked, password="open sesame").status_code == 200
    assert open_link(api, share(api), "192.0.2.1").data == b""


def test_a_disabled_users_links_stop_until_they_are_enabled(api):
    token = share(api)
    assert api.patch("/api/admin/users/alice", json={"disabled": True}).status_code == 200
    stopped = open_link(api, token)
    assert (stopped.status_code, stopped.json["error"]["code"]) == (403, "user_disabled")
    assert api.patch("/api/admin/users/alice", json={"disabled": False}).status_code == 200
    assert open_link(api, token).status_code == 200


def test_share_urls_are_built_on_the_public_url_not_the_host_header(tmp_path):
    app, client = make_api(tmp_path, PUBLIC_URL="https://files.example.com/")
    reply = client.post(
        "/api/shares",
        json={"path": "/empty.txt"},
        headers={"Host": "evil.example"},
    )
    assert reply.json["url"] == f"https://files.example.com/s/{reply.json['token']}"
    app.extensions["mdbx.master"].index.close()


def test_by_default_share_urls_name_the_masters_own_address(api):
    reply = api.post(
        "/api/shares",
        json={"path": "/empty.txt"},
        headers={"Host": "evil.example"},
    )
    assert reply.json["url"] == f"http://127.0.0.1:9000/s/{reply.json['token']}"
