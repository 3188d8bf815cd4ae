"""NodeClient.fetch_blob against a stand-in node: whole blobs only, and only the right bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from app.cluster.node_client import CorruptCopy, MissingCopy, NodeClient
from tests.support.stub_http import QuietHandler, stub_server

BLOB = bytes(range(256)) * 64
DIGEST = hashlib.sha256(BLOB).hexdigest()


@pytest.fixture
def node() -> Iterator[tuple[str, dict[str, tuple[int, bytes]]]]:
    """A node answering ``GET /retrieve`` with what the test puts in ``answers``."""
    answers: dict[str, tuple[int, bytes]] = {}

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            status, body = answers["next"]
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with stub_server(Handler) as url:
        yield url, answers


def test_the_registered_bytes_are_returned(node):
    url, answers = node
    answers["next"] = (200, BLOB)
    assert NodeClient().fetch_blob(url, DIGEST, len(BLOB)) == BLOB


def test_an_answer_longer_than_registered_is_not_the_blob(node):
    url, answers = node
    answers["next"] = (200, BLOB + b"x")
    assert NodeClient().fetch_blob(url, DIGEST, len(BLOB)) is None


def test_other_bytes_of_the_right_length_are_a_corrupt_copy(node):
    url, answers = node
    answers["next"] = (200, bytes(len(BLOB)))
    with pytest.raises(CorruptCopy):
        NodeClient().fetch_blob(url, DIGEST, len(BLOB))


def test_a_node_without_the_blob_says_so_and_one_that_fails_is_skipped(node):
    url, answers = node
    answers["next"] = (404, b'{"error": {"code": "blob_not_found", "message": "no"}}')
    with pytest.raises(MissingCopy):  # the caller forgets that copy (#17)
        NodeClient().fetch_blob(url, DIGEST, len(BLOB))
    for status, body in ((404, b"<html>not a node</html>"), (503, b"{}")):
        answers["next"] = (status, body)
        assert NodeClient().fetch_blob(url, DIGEST, len(BLOB)) is None
