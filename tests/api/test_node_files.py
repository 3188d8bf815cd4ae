"""A node's ``GET /file``: a file of several blocks sent from the node's own copies."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.security import CLUSTER_HEADER, READ, sign_url
from app.server.connection import FAST_PATH, FastRequest
from tests.support.apps import BLOB_HEADERS, make_client
from tests.support.stub_http import QuietHandler, stub_server

BLOCKS = [os.urandom(1000), os.urandom(1000), os.urandom(333)]
CONTENT = b"".join(BLOCKS)
FILE_HASH = hashlib.sha256(CONTENT).hexdigest()
BLOCK_HASHES = [hashlib.sha256(block).hexdigest() for block in BLOCKS]
SECRET = "s" * 32


class FakeMaster(QuietHandler):
    """Answers ``GET /files/<hash>/blocks`` for the one file it knows, and counts them."""

    asked: list[str] = []

    def do_GET(self) -> None:
        match = re.fullmatch(r"/files/([0-9a-f]{64})/blocks", self.path)
        if match is None or match.group(1) != FILE_HASH:
            self.send_json({"error": {"code": "file_not_found", "message": "no such file"}}, 404)
            return
        FakeMaster.asked.append(match.group(1))
        offsets = [sum(len(b) for b in BLOCKS[:i]) for i in range(len(BLOCKS))]
        blocks = [
            {"hash": h, "size": len(b), "offset": o, "urls": []}
            for h, b, o in zip(BLOCK_HASHES, BLOCKS, offsets, strict=True)
        ]
        self.send_json(
            {
                "hash": FILE_HASH,
                "name": "notes 100%.txt",
                "size": len(CONTENT),
                "block_size": 1000,
                "blocks": blocks,
            }
        )


@pytest.fixture
def master_url() -> Iterator[str]:
    FakeMaster.asked = []
    with stub_server(FakeMaster) as url:
        yield url


@pytest.fixture
def app(make_node_app, master_url):
    app = make_node_app(MASTER=master_url)
    for block in BLOCKS:
        make_client(app).put("/upload?kind=block&register=0", data=block)
    return app


def fast_answer(app, target: str, **headers: str):
    handler = app.extensions[FAST_PATH].handler
    fields = {name.lower().encode(): value.encode() for name, value in headers.items()}
    return handler(FastRequest(b"GET", target.encode(), fields))


def test_the_view_sends_the_blocks_in_order_under_the_files_name(app):
    response = make_client(app).get(f"/file?hash={FILE_HASH}")
    assert response.status_code == 200 and response.data == CONTENT
    assert response.headers["ETag"] == f'"{FILE_HASH}"'
    assert response.headers["Content-Type"] == "text/plain"
    assert "notes%20100%25.txt" in response.headers["Content-Disposition"]


def test_the_fast_path_sends_the_block_files_with_the_views_headers(app):
    answer = fast_answer(app, f"/file?hash={FILE_HASH}")
    assert answer is not None and answer.size == len(CONTENT)
    assert b"".join(Path(path).read_bytes() for path, _ in answer.files) == CONTENT
    assert [size for _, size in answer.files] == [len(b) for b in BLOCKS]
    fast = dict(line.split(": ", 1) for line in answer.headers.decode().split("\r\n") if line)
    view = make_client(app).get(f"/file?hash={FILE_HASH}")
    for name in BLOB_HEADERS:
        assert fast[name] == view.headers[name], name


def test_the_block_list_is_asked_of_the_master_once(app):
    for _ in range(3):
        assert make_client(app).get(f"/file?hash={FILE_HASH}").status_code == 200
        assert fast_answer(app, f"/file?hash={FILE_HASH}") is not None
    assert FakeMaster.asked == [FILE_HASH]


@pytest.mark.parametrize(
    "first, last",
    [(990, 1009), (0, 0), (999, 2000), (1500, len(CONTENT) - 1), (len(CONTENT) - 1, None)],
)
def test_ranges_across_block_edges_are_the_views(app, first, last):
    spec = f"bytes={first}-{'' if last is None else last}"
    assert fast_answer(app, f"/file?hash={FILE_HASH}", Range=spec) is None
    response = make_client(app).get(f"/file?hash={FILE_HASH}", headers={"Range": spec})
    assert response.status_code == 206
    end = len(CONTENT) - 1 if last is None else last
    assert response.data == CONTENT[first : end + 1]
    assert response.headers["Content-Range"] == f"bytes {first}-{end}/{len(CONTENT)}"


def test_conditional_and_unsatisfiable_requests(app):
    client = make_client(app)
    target = f"/file?hash={FILE_HASH}"
    assert client.get(target, headers={"If-None-Match": f'"{FILE_HASH}"'}).status_code == 304
    outside = client.get(target, headers={"Range": f"bytes={len(CONTENT)}-"})
    assert outside.status_code == 416
    assert outside.json["error"]["code"] == "range_not_satisfiable"


def test_a_node_lacking_a_block_says_so_and_sends_nothing(app):
    client = make_client(app)
    assert client.delete(f"/blobs/{BLOCK_HASHES[1]}").status_code == 200
    assert fast_answer(app, f"/file?hash={FILE_HASH}") is None
    response = client.get(f"/file?hash={FILE_HASH}")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "block_not_here"
    assert "proxy=1" in response.json["error"]["message"]


@pytest.mark.parametrize(
    "target, status, code",
    [
        (f"/file?hash={'0' * 64}", 404, "file_not_found"),
        ("/file?hash=xyz", 400, "invalid_hash"),
        ("/file", 400, "invalid_hash"),
    ],
)
def test_unknown_or_malformed_hashes_are_json_errors(app, target, status, code):
    assert fast_answer(app, target) is None
    response = make_client(app).get(target)
    assert (response.status_code, response.json["error"]["code"]) == (status, code)


def test_without_a_master_the_answer_is_503(node_app):
    response = make_client(node_app).get(f"/file?hash={FILE_HASH}")
    assert (response.status_code, response.json["error"]["code"]) == (503, "master_unavailable")


def test_in_secured_mode_a_read_token_of_the_file_opens_it(make_node_app, master_url):
    app = make_node_app(MASTER=master_url, CLUSTER_SECRET=SECRET)
    client = make_client(app)
    for block in BLOCKS:
        put = client.put(
            "/upload?kind=block&register=0", data=block, headers={CLUSTER_HEADER: SECRET}
        )
        assert put.status_code == 200
    plain = f"/file?hash={FILE_HASH}"
    assert client.get(plain).status_code == 401
    other = sign_url(f"/file?hash={FILE_HASH}", SECRET, READ, BLOCK_HASHES[0], 60)
    assert client.get(other).status_code == 403
    signed = sign_url(plain, SECRET, READ, FILE_HASH, 60)
    assert fast_answer(app, plain) is None
    assert fast_answer(app, signed) is not None
    assert client.get(signed).data == CONTENT
