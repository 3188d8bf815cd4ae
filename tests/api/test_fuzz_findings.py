"""What schemathesis found against a live cluster (tests/e2e/test_openapi_fuzz.py), each
kept here as a plain request on the Flask test client: a clear 4xx, never a 500."""

from __future__ import annotations


def test_replicate_with_a_hash_that_is_no_string_is_400_invalid_hash(node_client):
    for bad in ({"a": 1}, ["0" * 64], 42, True):
        reply = node_client.post("/replicate", json={"hash": bad, "source": "http://x:1"})
        assert reply.status_code == 400, (bad, reply.data)
        assert reply.json["error"]["code"] == "invalid_hash"
