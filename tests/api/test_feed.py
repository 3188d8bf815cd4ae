"""The change feed through the Flask test client, onto a real node: /api/tree, then
/api/changes from its cursor (every kind of change once, in order), paging, the path a
cursor follows, bad and expired cursors, the long poll, and who may call."""

from __future__ import annotations

import threading
import time

import pytest

from app.master.service import REPAIRER
from tests.support.user_master import error, put_file, token_of, user_master


@pytest.fixture
def api(tmp_path, dead_url):
    with user_master(tmp_path, dead_url, FEED_MAX_CHANGES=1) as (app, client):
        yield app, client


def changes(client, cursor, **args):
    reply = client.get("/api/changes", query_string={"cursor": cursor, **args})
    assert reply.status_code == 200, reply.json
    return reply.json


def kinds(answer):
    return [(c["change"], c["path"], c.get("from")) for c in answer["changes"]]


def test_tree_then_changes_shows_each_change_once_in_order(api):
    _app, client = api
    put_file(client, "/docs/a.txt", b"one")
    listed = client.get("/api/tree").json
    assert listed["next"] is None
    assert listed["entries"] == [
        {
            "name": "docs",
            "path": "/docs",
            "size": 0,
            "mtime": listed["entries"][0]["mtime"],
            "hash": None,
            "is_dir": True,
            "modified": listed["entries"][0]["mtime"],
            "version": None,
        },
        {
            "name": "a.txt",
            "path": "/docs/a.txt",
            "size": 3,
            "mtime": listed["entries"][1]["mtime"],
            "hash": put_file(client, "/x", b"one")["hash"],
            "is_dir": False,
            "modified": listed["entries"][1]["mtime"],
            "version": 1,
        },
    ]
    # /api/list keeps its own shape.
    assert "modified" not in client.get("/api/list").json["entries"][0]
    cursor = listed["cursor"]
    put_file(client, "/docs/a.txt", b"two")
    assert client.post("/api/mkdir", json={"path": "/new"}).status_code == 200
    assert client.post("/api/move", json={"from": "/docs", "to": "/new/docs"}).status_code == 200
    assert client.post("/api/copy", json={"from": "/new/docs", "to": "/c"}).status_code == 200
    trash_id = client.delete("/api/files/new").json["trash_id"]
    assert client.post("/api/restore", json={"trash_id": trash_id}).status_code == 200
    restored = client.post("/api/restore", json={"path": "/x", "version": 1})
    assert restored.status_code == 200
    assert client.delete("/api/trash").status_code == 200  # a purge changes no tree
    answer = changes(client, cursor)
    assert kinds(answer) == [
        ("upsert", "/x", None),
        ("upsert", "/docs/a.txt", None),
        ("upsert", "/new", None),
        ("move", "/new/docs", "/docs"),
        ("upsert", "/c", None),
        ("upsert", "/c/a.txt", None),
        ("delete", "/new", None),
        ("upsert", "/new", None),
        ("upsert", "/new/docs", None),
        ("upsert", "/new/docs/a.txt", None),
        ("upsert", "/x", None),
    ]
    seqs = [c["seq"] for c in answer["changes"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    overwrite = answer["changes"][1]
    assert (overwrite["size"], overwrite["version"], overwrite["is_dir"]) == (3, 2, False)
    assert answer["changes"][3]["is_dir"] is True and answer["changes"][3]["version"] is None
    assert answer["has_more"] is False
    assert changes(client, answer["cursor"])["changes"] == []


def test_pages_of_the_tree_and_of_the_feed(api):
    _app, client = api
    for n in range(5):
        put_file(client, f"/p/f{n}", b"x")
    first = client.get("/api/tree", query_string={"limit": 2}).json
    assert [e["path"] for e in first["entries"]] == ["/p", "/p/f0"] and first["next"] == "/p/f0"
    rest = client.get("/api/tree", query_string={"limit": 10, "after": first["next"]}).json
    assert [e["path"] for e in rest["entries"]] == [f"/p/f{n}" for n in range(1, 5)]
    assert rest["next"] is None
    start = client.get("/api/changes/latest").json["cursor"]
    for n in range(3):
        put_file(client, f"/q{n}", b"y")
    page = changes(client, start, limit=2)
    assert kinds(page) == [("upsert", "/q0", None), ("upsert", "/q1", None)] and page["has_more"]
    page = changes(client, page["cursor"], limit=2)
    assert kinds(page) == [("upsert", "/q2", None)] and not page["has_more"]
    assert error(client.get("/api/tree", query_string={"limit": 5001})) == (400, "invalid_field")


def test_a_cursor_follows_its_path(api):
    _app, client = api
    put_file(client, "/in/a", b"a")
    put_file(client, "/out/b", b"b")
    cursor = client.get("/api/tree", query_string={"path": "/in"}).json["cursor"]
    latest = client.get("/api/changes/latest", query_string={"path": "/in"}).json["cursor"]
    put_file(client, "/out/c", b"c")
    put_file(client, "/in/d", b"d")
    assert client.post("/api/move", json={"from": "/out", "to": "/in/out"}).status_code == 200
    assert client.post("/api/move", json={"from": "/in/a", "to": "/a"}).status_code == 200
    expected = [
        ("upsert", "/in/d", None),
        ("upsert", "/in/out", None),
        ("upsert", "/in/out/b", None),
        ("upsert", "/in/out/c", None),
        ("delete", "/in/a", None),
    ]
    assert kinds(changes(client, cursor)) == kinds(changes(client, latest)) == expected
    assert error(client.get("/api/tree", query_string={"path": "/in/d"})) == (
        409,
        "not_a_directory",
    )
    assert error(client.get("/api/changes/latest", query_string={"path": "/no"})) == (
        404,
        "path_not_found",
    )


def test_bad_foreign_and_expired_cursors(api):
    app, client = api
    cursor = client.get("/api/changes/latest").json["cursor"]
    for bad in ("", "nonsense", "c1.!!!", "c1.WzEsMl0", cursor[:-2]):
        assert error(client.get("/api/changes", query_string={"cursor": bad})) == (
            400,
            "invalid_cursor",
        )
    bob = {"Authorization": f"Bearer {token_of(client, 'bob')}"}
    foreign = client.get("/api/changes", query_string={"cursor": cursor}, headers=bob)
    assert error(foreign) == (400, "invalid_cursor")
    for n in range(3):
        put_file(client, f"/f{n}", b"z")
    # The repair pass trims each feed to FEED_MAX_CHANGES (1 here).
    app.extensions[REPAIRER].run_pass(collect=False)
    assert error(client.get("/api/changes", query_string={"cursor": cursor})) == (
        410,
        "cursor_expired",
    )
    waited = client.get("/api/changes/wait", query_string={"cursor": cursor, "timeout": 1})
    assert error(waited) == (410, "cursor_expired")
    fresh = client.get("/api/changes/latest").json["cursor"]
    assert changes(client, fresh)["changes"] == []


def test_every_feed_call_needs_a_token(api):
    _app, client = api
    client.environ_base.pop("HTTP_AUTHORIZATION")
    for url in ("/api/tree", "/api/changes/latest", "/api/changes", "/api/changes/wait"):
        assert error(client.get(url)) == (401, "missing_credentials")


def test_the_long_poll_answers_on_a_change_and_at_its_timeout(api):
    app, client = api
    cursor = client.get("/api/changes/latest").json["cursor"]
    began = time.monotonic()
    waited = client.get("/api/changes/wait", query_string={"cursor": cursor, "timeout": 1})
    assert waited.json == {"changes": False} and 1.0 <= time.monotonic() - began < 3.0
    answers = []
    other = app.test_client()
    other.environ_base.update(client.environ_base)

    def wait() -> None:
        query = {"cursor": cursor, "timeout": 10}
        answers.append((other.get("/api/changes/wait", query_string=query).json, time.monotonic()))

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)  # let it wait first (the answer is the same if it did not)
    put_file(client, "/now", b"!")
    written = time.monotonic()
    waiter.join(timeout=10)
    assert answers and answers[0][0] == {"changes": True}
    assert answers[0][1] - written < 1.0
    # A change already there answers at once.
    assert client.get("/api/changes/wait", query_string={"cursor": cursor}).json == {
        "changes": True
    }
    assert error(
        client.get("/api/changes/wait", query_string={"cursor": cursor, "timeout": 0})
    ) == (
        400,
        "invalid_field",
    )
