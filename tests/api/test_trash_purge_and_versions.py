"""Emptying the trash (all of it or one entry) and downloading an old version, through
the Flask test client. Content is registered straight into the catalogue (no node): an
empty file reads without any, and a sized one counts in the quota."""

from __future__ import annotations

import hashlib

import pytest

from app.factory import create_app
from app.metadata.accounts import UserStore
from app.metadata.catalogue_schema import files
from app.metadata.namespace import NamespaceStore
from app.metadata.records import FileRecord
from tests.support.apps import make_client

EMPTY = hashlib.sha256(b"").hexdigest()
BIG = hashlib.sha256(b"big").hexdigest()


@pytest.fixture
def alice(tmp_path):
    app = create_app(
        "master",
        {"DATA_DIR": str(tmp_path / "master"), "BACKGROUND_TASKS": False},
    )
    client = make_client(app)
    for name in ("alice", "bob"):
        added = client.post("/api/admin/users", json={"username": name, "password": f"pw-{name}"})
        assert added.status_code == 200, added.json
    catalogue = app.extensions["mdbx.master"].store
    catalogue.register(FileRecord(EMPTY, "empty.txt", 0, (), public=False))
    # 1000 bytes the quota counts; never read (it has no copies).
    catalogue.register(FileRecord(BIG, "big.bin", 1000, (), public=False))
    namespace = NamespaceStore(catalogue.engine)
    user_id = UserStore(catalogue.engine).get("alice").id
    namespace.put_file(user_id, "/a/one.txt", EMPTY, 0, 0)
    namespace.put_file(user_id, "/a/one.txt", EMPTY, 0, 0)  # version 2, same content
    namespace.put_file(user_id, "/big.bin", BIG, 1000, 0)
    namespace.put_file(UserStore(catalogue.engine).get("bob").id, "/b.txt", EMPTY, 0, 0)
    reply = client.post("/api/login", json={"username": "alice", "password": "pw-alice"})
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {reply.json['token']}"
    client.engine = catalogue.engine
    yield client
    app.extensions["mdbx.master"].index.close()


def error(reply) -> tuple[int, str]:
    return reply.status_code, reply.json["error"]["code"]


def used(client) -> int:
    return client.get("/api/account").json["used_bytes"]


def trash_ids(client) -> list[str]:
    return [item["trash_id"] for item in client.get("/api/trash").json["trash"]]


def test_deleting_one_trash_entry_for_good_frees_its_quota(alice):
    big = alice.delete("/api/files/big.bin").json["trash_id"]
    folder = alice.delete("/api/files/a").json["trash_id"]
    assert used(alice) == 1000  # the trash still counts
    with alice.engine.connect() as conn:
        before = conn.execute(files.select().where(files.c.hash == BIG)).one().updated_at

    assert alice.delete(f"/api/trash/{big}").json == {"purged": 1}
    assert trash_ids(alice) == [folder]
    assert used(alice) == 0
    with alice.engine.connect() as conn:
        # Released as expiry releases it: its grace period for garbage collection starts.
        assert conn.execute(files.select().where(files.c.hash == BIG)).one().updated_at > before
    assert error(alice.post("/api/restore", json={"trash_id": big})) == (404, "trash_not_found")
    assert error(alice.delete(f"/api/trash/{big}")) == (404, "trash_not_found")


def test_emptying_the_trash_removes_every_entry_of_the_user_only(alice):
    alice.delete("/api/files/big.bin")
    alice.delete("/api/files/a")
    bob = {"Authorization": "Bearer " + _token(alice, "bob")}
    assert alice.delete("/api/files/b.txt", headers=bob).status_code == 200

    assert alice.delete("/api/trash").json == {"purged": 2}
    assert trash_ids(alice) == []
    assert used(alice) == 0
    assert alice.delete("/api/trash").json == {"purged": 0}  # an empty trash is fine
    assert len(alice.get("/api/trash", headers=bob).json["trash"]) == 1
    # Someone else's entry is not found by its id.
    theirs = alice.get("/api/trash", headers=bob).json["trash"][0]["trash_id"]
    assert error(alice.delete(f"/api/trash/{theirs}")) == (404, "trash_not_found")


def test_an_old_version_downloads_by_its_number(alice):
    versions = alice.get("/api/versions?path=/a/one.txt").json["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    old = alice.get("/api/files/a/one.txt?version=1")
    assert old.status_code == 200 and old.data == b""
    assert old.headers["ETag"].strip('"') == EMPTY
    assert alice.get("/api/files/a/one.txt?version=2").status_code == 200  # the current one
    assert error(alice.get("/api/files/a/one.txt?version=7")) == (404, "version_not_found")
    assert error(alice.get("/api/files/a/one.txt?version=x")) == (400, "invalid_field")
    assert error(alice.get("/api/files/a/one.txt?version=0")) == (400, "invalid_field")
    assert error(alice.get("/api/files/nothing.txt?version=1")) == (404, "path_not_found")


def _token(client, name: str) -> str:
    reply = client.post("/api/login", json={"username": name, "password": f"pw-{name}"})
    return reply.json["token"]
