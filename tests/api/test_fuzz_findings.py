"""What schemathesis found against a live cluster (tests/e2e/test_openapi_fuzz.py), each
kept here as a plain request on the Flask test client: a clear 4xx, never a 500."""

from __future__ import annotations

from tests.support.user_master import user_master


def test_replicate_with_a_hash_that_is_no_string_is_400_invalid_hash(node_client):
    for bad in ({"a": 1}, ["0" * 64], 42, True):
        reply = node_client.post("/replicate", json={"hash": bad, "source": "http://x:1"})
        assert reply.status_code == 400, (bad, reply.data)
        assert reply.json["error"]["code"] == "invalid_hash"


def test_a_put_to_a_user_path_with_a_doubled_slash_is_answered_without_a_redirect(
    tmp_path, dead_url
):
    """Werkzeug answered ``PUT /api/files/docs//a`` with 308 to ``/api/files/docs/a``
    (an answer the document did not list): the client had to send the body again, and
    curl does not. Now the path is the user's, whose empty segments mean nothing."""
    with user_master(tmp_path, dead_url) as (_, client):
        reply = client.put("/api/files/docs//a.txt", data=b"bytes")
        assert reply.status_code == 200, reply.data
        assert reply.json["path"] == "/docs/a.txt"
        assert client.get("/api/files/docs/a.txt").data == b"bytes"
        assert client.get("/api/files/docs//a.txt").data == b"bytes"
        # Right after /api/files/, a slash starts no path: no route, no redirect.
        reply = client.put("/api/files//docs/a.txt", data=b"other")
        assert reply.status_code == 404
        assert reply.json["error"]["code"] == "not_found"
        assert client.get("/api/files/docs/a.txt").data == b"bytes"


def test_a_doubled_slash_elsewhere_names_no_route_a_json_404(master_client):
    reply = master_client.get("/api//list")
    assert reply.status_code == 404
    assert reply.json["error"]["code"] == "not_found"


def test_a_line_break_in_a_path_reaches_the_views_parser_not_a_404(tmp_path, dead_url):
    """werkzeug's ``<path:...>`` stopped at a line break: ``PUT /upload/a%0Ab`` and
    ``/api/files/a%0Ab`` matched no route, 404 (an answer the document did not list)."""
    with user_master(tmp_path, dead_url) as (_, client):
        reply = client.put("/api/files/a%0Ab", data=b"x")
        assert reply.status_code == 400, reply.data
        assert reply.json["error"]["code"] == "invalid_path"
        reply = client.get("/api/files/docs/a%0D%0Ab")
        assert reply.status_code == 400, reply.data
        assert reply.json["error"]["code"] == "invalid_path"
        stored = client.put("/upload/line%0Abreak.txt", data=b"global bytes")
        assert stored.status_code == 200, stored.data
        assert stored.json["name"] == "linebreak.txt"
