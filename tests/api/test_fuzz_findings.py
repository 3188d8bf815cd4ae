"""What schemathesis found against a live cluster (tests/e2e/test_openapi_fuzz.py), each
kept here as a plain request on the Flask test client: a clear 4xx, never a 500, and an
answer the role's document describes."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from app.openapi.document import openapi_document
from app.server.worker import json_error
from tests.support.user_master import user_master


def assert_documented(role: str, path: str, method: str, reply: Any) -> None:
    """The answer's status is one the operation lists, and its JSON body fits the schema
    listed for it (the document's components resolved)."""
    document = openapi_document(role)
    responses = document["paths"][path][method]["responses"]
    assert str(reply.status_code) in responses, (method, path, reply.status_code)
    schema = responses[str(reply.status_code)]["content"]["application/json"]["schema"]
    validator = jsonschema_rs.validator_for({**schema, "components": document["components"]})
    errors = [error.message for error in validator.iter_errors(reply.json)]
    assert errors == [], (method, path, errors)


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


def test_a_registered_key_that_is_no_sha256_is_answered_as_the_document_says(master_client):
    """Found in secured mode: ``POST /register`` takes any file key (the reference
    registers keys such as "test123"), and then its answer, ``/list`` and a repair
    pass's ``unavailable`` named it where the document allowed only a SHA-256."""
    reply = master_client.post("/register", json={"hash": "GC-", "name": "x", "size": 5})
    assert reply.status_code == 200, reply.json
    assert reply.json["hash"] == "GC-"
    assert_documented("master", "/register", "post", reply)
    listed = master_client.get("/list")
    assert [f["hash"] for f in listed.json] == ["GC-"]
    assert_documented("master", "/list", "get", listed)
    repaired = master_client.post("/cluster/repair")
    assert repaired.status_code == 200 and repaired.json["unavailable"] == ["GC-"]
    assert_documented("master", "/cluster/repair", "post", repaired)


def test_the_versions_of_a_folder_are_a_documented_409(tmp_path, dead_url):
    """Found in secured mode: ``GET /api/versions?path=<a folder>`` answered 409
    is_a_directory, which the document did not list."""
    with user_master(tmp_path, dead_url) as (_, client):
        assert client.post("/api/mkdir", json={"path": "/docs"}).status_code == 200
        reply = client.get("/api/versions", query_string={"path": "/docs"})
        assert reply.status_code == 409 and reply.json["error"]["code"] == "is_a_directory"
        assert_documented("master", "/api/versions", "get", reply)


@pytest.mark.parametrize("role", ["master", "node"])
def test_every_operation_lists_the_refusals_of_a_head_beyond_the_limits(role):
    """Found in secured mode: a generated query past the request line's 4,094 bytes got
    gunicorn's 414 (for any operation, before any view), which no operation listed, and
    its code was spelled ``request-uri_too_long``. The live answer:
    tests/e2e/test_connections.py."""
    for item in openapi_document(role)["paths"].values():
        for operation in item.values():
            assert {"414", "431"} <= set(operation["responses"]), operation["operationId"]
    head, _, body = json_error(414, "Request Line is too large (4921 > 4094)").partition(
        b"\r\n\r\n"
    )
    assert head.startswith(b"HTTP/1.1 414 ")
    assert b'"code":"request_uri_too_long"' in body
