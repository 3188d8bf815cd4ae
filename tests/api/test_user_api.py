"""The per-user API through the Flask test client: accounts, tokens, admin, limits,
folders and paths (content round trips need nodes: tests/e2e/test_accounts.py)."""

from __future__ import annotations

import unicodedata

import pytest

from app.factory import create_app
from tests.support.apps import make_client


@pytest.fixture
def api(tmp_path):
    app = create_app(
        "master",
        {
            "DATA_DIR": str(tmp_path / "master"),
            "BACKGROUND_TASKS": False,
            "LOGIN_RATE_LIMIT": "5 per minute",
        },
    )
    client = make_client(app)
    for name in ("alice", "bob"):
        added = client.post("/api/admin/users", json={"username": name, "password": f"pw-{name}"})
        assert added.status_code == 200, added.json
    yield client
    app.extensions["mdbx.master"].index.close()


def login(client, name: str, password: str | None = None) -> dict[str, str]:
    reply = client.post("/api/login", json={"username": name, "password": password or f"pw-{name}"})
    assert reply.status_code == 200, reply.json
    return {"Authorization": f"Bearer {reply.json['token']}"}


def error(reply) -> tuple[int, str]:
    return reply.status_code, reply.json["error"]["code"]


def test_login_gives_a_token_and_wrong_credentials_look_alike(api):
    assert login(api, "alice")["Authorization"].startswith("Bearer ")
    wrong = api.post("/api/login", json={"username": "alice", "password": "nope"})
    unknown = api.post("/api/login", json={"username": "mallory", "password": "nope"})
    assert error(wrong) == error(unknown) == (401, "invalid_credentials")
    assert wrong.json["error"]["message"] == unknown.json["error"]["message"]
    assert error(api.post("/api/login", json={"username": "alice"})) == (400, "missing_field")


def test_every_api_call_needs_a_valid_token(api):
    assert error(api.get("/api/list")) == (401, "missing_credentials")
    bad = api.get("/api/list", headers={"Authorization": "Bearer forged"})
    assert error(bad) == (401, "invalid_token")
    headers = login(api, "alice")
    assert api.get("/api/list", headers=headers).json == {
        "path": "/",
        "entries": [],
        "total": 0,
        "offset": 0,
    }
    assert api.post("/api/logout", headers=headers).status_code == 200
    assert error(api.get("/api/list", headers=headers)) == (401, "invalid_token")


def test_admin_calls_from_loopback_in_open_mode_or_with_an_admin_token(api):
    alice = login(api, "alice")
    refused = api.get("/api/admin/users", headers=alice, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert error(refused) == (403, "forbidden")
    remote = api.get("/api/admin/users", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert error(remote) == (401, "missing_credentials")
    api.post("/api/admin/users", json={"username": "root", "password": "pw-root", "admin": True})
    listed = api.get(
        "/api/admin/users", headers=login(api, "root"), environ_base={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert [u["name"] for u in listed.json["users"]] == ["alice", "bob", "root"]
    duplicate = api.post("/api/admin/users", json={"username": "bob", "password": "x"})
    assert error(duplicate) == (409, "user_exists")
    assert error(api.post("/api/admin/users", json={"username": "../x", "password": "x"})) == (
        400,
        "invalid_field",
    )


def test_disabling_a_user_revokes_their_tokens(api):
    alice = login(api, "alice")
    changed = api.patch("/api/admin/users/alice", json={"disabled": True, "quota_bytes": 10})
    assert changed.json["disabled"] is True and changed.json["quota_bytes"] == 10
    assert error(api.get("/api/list", headers=alice)) == (401, "invalid_token")
    again = api.post("/api/login", json={"username": "alice", "password": "pw-alice"})
    assert error(again) == (403, "user_disabled")


def test_logins_are_rate_limited_per_user_and_per_address(api):
    for _ in range(5):
        api.post("/api/login", json={"username": "alice", "password": "wrong"})
    limited = api.post("/api/login", json={"username": "alice", "password": "pw-alice"})
    assert limited.status_code == 429 and "error" in limited.json
    # Another address guessing alice's password is limited too (per user)...
    elsewhere = api.post(
        "/api/login",
        json={"username": "alice", "password": "pw-alice"},
        environ_base={"REMOTE_ADDR": "192.0.2.9"},
    )
    assert elsewhere.status_code == 429
    # ...while the address's budget also ran out for other users.
    assert api.post("/api/login", json={"username": "bob", "password": "pw-bob"}).status_code == 429


def test_folders_move_copy_and_trash(api):
    alice = login(api, "alice")
    assert api.post("/api/mkdir", json={"path": "/a/b"}, headers=alice).json["is_dir"] is True
    assert api.post("/api/copy", json={"from": "/a", "to": "/c"}, headers=alice).status_code == 200
    moved = api.post("/api/move", json={"from": "/a", "to": "/d/e"}, headers=alice)
    assert moved.json["path"] == "/d/e"
    names = [e["name"] for e in api.get("/api/list?path=/", headers=alice).json["entries"]]
    assert names == ["c", "d"]
    assert api.get("/api/stat?path=/d/e/b", headers=alice).json["is_dir"] is True
    exists = api.post("/api/move", json={"from": "/c", "to": "/d"}, headers=alice)
    assert error(exists) == (409, "path_exists")
    trashed = api.delete("/api/files/c", headers=alice).json
    assert api.get("/api/trash", headers=alice).json["trash"][0]["trash_id"] == trashed["trash_id"]
    assert error(api.get("/api/stat?path=/c", headers=alice)) == (404, "path_not_found")
    restored = api.post("/api/restore", json={"trash_id": trashed["trash_id"]}, headers=alice)
    assert restored.json["path"] == "/c"
    # Bob sees none of it.
    assert api.get("/api/list?path=/", headers=login(api, "bob")).json["entries"] == []


def test_paths_are_checked_and_normalised(api):
    alice = login(api, "alice")
    for bad in ("/a/../../etc", "/a\x00b", "/" + "x" * 300):
        assert api.post("/api/mkdir", json={"path": bad}, headers=alice).status_code == 400, bad
    traversal = api.get("/api/files/a/%2e%2e/%2e%2e/etc/passwd", headers=alice)
    assert error(traversal) == (400, "invalid_path")
    nfd = unicodedata.normalize("NFD", "/Café")
    api.post("/api/mkdir", json={"path": nfd}, headers=alice)
    nfc = api.get("/api/stat", query_string={"path": "/Café"}, headers=alice)
    assert nfc.status_code == 200 and nfc.json["path"] == unicodedata.normalize("NFC", "/Café")
