"""The one error renderer gives the bytes Flask's jsonify gives, and the blob headers."""

from __future__ import annotations

from flask import Flask

from app.errors import MissingField, TooManyRequests
from app.http.blob_headers import blob_headers, mimetype_of
from app.http.json_answers import INTERNAL_ERROR, error_answer, json_bytes


def test_json_bytes_are_jsonify_s_with_the_apps_key_order():
    app = Flask(__name__)
    app.json.sort_keys = False  # as app/factory.py sets it
    payload = {"z": 1, "a": ["é", None, 2.5], "error": {"code": "x"}}
    with app.app_context():
        assert json_bytes(payload) == app.json.response(payload).get_data()


def test_an_app_error_keeps_its_status_headers_and_details():
    answer = error_answer(TooManyRequests("slow down", headers={"Retry-After": "7"}))
    assert (answer.status, answer.headers) == (429, {"Retry-After": "7"})
    assert answer.body == b'{"error":{"code":"too_many_requests","message":"slow down"}}\n'
    assert b'"field":"file"' in error_answer(MissingField("file")).body
    assert INTERNAL_ERROR.status == 500 and b"internal_error" in INTERNAL_ERROR.body


def test_blob_headers_name_the_type_only_when_a_body_follows():
    digest = "ab" * 32
    full = dict(blob_headers(digest, "café.txt", mimetype=mimetype_of("café.txt"), length=5))
    assert full["Content-Type"] == "text/plain" and full["Content-Length"] == "5"
    assert full["ETag"] == f'"{digest}"'
    assert full["Content-Disposition"] == (
        "inline; filename=\"caf?.txt\"; filename*=UTF-8''caf%C3%A9.txt"
    )
    bare = dict(blob_headers(digest, "x"))
    assert "Content-Type" not in bare and "Content-Length" not in bare
    assert mimetype_of("no-extension") == "application/octet-stream"
