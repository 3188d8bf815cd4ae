"""POST /api/blocks and /api/delta through the Flask test client onto a real node: a new
version of a large file from its changed blocks only; a block counts as held only if it
is one of the caller's own file at that path, and the whole file must hash as said (#21)."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from app.config import MIN_BLOCK_SIZE
from tests.support.user_master import error, put_file, token_of, user_master

BLOCK = MIN_BLOCK_SIZE  # the BLOCK_SIZE of user_master


@pytest.fixture
def api(tmp_path, dead_url):
    with user_master(tmp_path, dead_url) as (app, client):
        yield app, client


def cut(data: bytes) -> list[bytes]:
    return [data[i : i + BLOCK] for i in range(0, len(data), BLOCK)] or [b""]


def hashes(data: bytes) -> list[str]:
    return [hashlib.sha256(block).hexdigest() for block in cut(data)]


def ask(client, path: str, data: bytes, **headers: str):
    body = {"path": path, "size": len(data), "blocks": hashes(data)}
    return client.post("/api/blocks", json=body, headers=headers)


def delta_body(data: bytes, sent: list[int], claimed: str | None = None) -> bytes:
    plan = {
        "size": len(data),
        "hash": claimed or hashlib.sha256(data).hexdigest(),
        "blocks": hashes(data),
        "sent": sent,
    }
    blocks = cut(data)
    sent_bytes = b"".join(blocks[i] for i in sorted(sent) if i < len(blocks))
    return json.dumps(plan).encode() + b"\n" + sent_bytes


def send(client, path: str, data: bytes, sent: list[int], *, claimed: str | None = None, **kw):
    body = delta_body(data, sent, claimed)
    return client.post("/api/delta", query_string={"path": path}, data=body, **kw)


def test_only_the_changed_block_travels_and_makes_a_new_version(api):
    _app, client = api
    old = os.urandom(5 * BLOCK + 777)
    put_file(client, "/f.bin", old)
    new = bytearray(old)
    new[2 * BLOCK + 5 : 2 * BLOCK + 50] = os.urandom(45)
    new += b"a longer tail"
    asked = ask(client, "/f.bin", bytes(new))
    assert asked.status_code == 200, asked.json
    # The changed block, and the last one (longer now).
    assert asked.json == {"block_size": BLOCK, "missing": [2, 5]}
    reply = send(client, "/f.bin", bytes(new), asked.json["missing"])
    assert reply.status_code == 200, reply.json
    digest = hashlib.sha256(new).hexdigest()
    assert reply.json == {"path": "/f.bin", "size": len(new), "hash": digest, "version": 2}
    assert client.get("/api/files/f.bin").data == bytes(new)
    first = client.get("/api/files/f.bin", query_string={"version": 1})
    assert first.data == old


def test_blocks_of_another_users_file_are_never_held(api):
    _app, client = api
    secret = os.urandom(3 * BLOCK)
    put_file(client, "/f.bin", secret)
    bob = {"Authorization": f"Bearer {token_of(client, 'bob')}"}
    asked = ask(client, "/f.bin", secret, **bob)
    assert asked.status_code == 200 and asked.json["missing"] == [0, 1, 2]
    # Nor of the caller's own files at other paths: only that path's are offered.
    assert ask(client, "/elsewhere.bin", secret).json["missing"] == [0, 1, 2]
    claimed = send(client, "/f.bin", secret, [], headers=bob)
    assert error(claimed) == (409, "blocks_missing")
    assert claimed.json["error"]["missing"] == [0, 1, 2]
    assert client.get("/api/stat", query_string={"path": "/f.bin"}, headers=bob).status_code == 404


def test_a_file_that_does_not_hash_as_said_is_not_stored(api):
    _app, client = api
    old = os.urandom(3 * BLOCK)
    put_file(client, "/f.bin", old)
    new = bytearray(old)
    new[10] ^= 0xFF
    lying = send(client, "/f.bin", bytes(new), [0], claimed=hashlib.sha256(b"else").hexdigest())
    assert error(lying) == (400, "hash_mismatch")
    assert client.get("/api/files/f.bin").data == old
    assert client.get("/api/stat", query_string={"path": "/f.bin"}).json["version"] == 1


def test_a_plan_that_is_not_the_files_cut_is_refused(api):
    _app, client = api
    data = os.urandom(2 * BLOCK + 1)
    put_file(client, "/f.bin", data)
    wrong = client.post(
        "/api/blocks", json={"path": "/f.bin", "size": len(data), "blocks": hashes(data)[:2]}
    )
    assert error(wrong) == (400, "invalid_field")
    assert wrong.json["error"]["block_size"] == BLOCK
    assert error(send(client, "/f.bin", data, [7])) == (400, "invalid_field")
    body = delta_body(data, [2])
    cut_off = client.post("/api/delta", query_string={"path": "/f.bin"}, data=body[:-1])
    assert error(cut_off) == (400, "malformed_delta")
    longer = client.post("/api/delta", query_string={"path": "/f.bin"}, data=body + b"!")
    assert error(longer) == (400, "malformed_delta")
    assert client.get("/api/stat", query_string={"path": "/f.bin"}).json["version"] == 1
    no_line = client.post("/api/delta", query_string={"path": "/f.bin"}, data=b'{"size": 1}')
    assert error(no_line) == (400, "malformed_delta")
