"""The one JSON decoder of request bodies (#17): what it refuses, quickly, and what it keeps."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from app.errors import BadRequest
from app.http.jsonbody import (
    BODY_LIMITS,
    DEFAULT_BODY_LIMIT,
    INT64_MAX,
    INT64_MIN,
    MAX_CONTAINERS,
    MAX_DEPTH,
    body_limit,
    check_json_type,
    decode_object,
)
from app.master.validation import MAX_BLOCKS


def refusal(body: bytes) -> str:
    with pytest.raises(BadRequest) as caught:
        decode_object(body)
    assert caught.value.status == 400 and caught.value.code == "invalid_json"
    return caught.value.message


@pytest.mark.parametrize(
    "body, says",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
        (b'{"a": ' + b"{" * 1000 + b'"x"', "nested deeper"),  # unterminated, still refused
        (b'{"size": 9223372036854775808}', "64 bits"),
        (b'{"size": -9223372036854775809}', "64 bits"),
        (b'{"expires_in": ' + b"9" * 400 + b"}", "400 digits"),
        (b'{"free_bytes": 1e400}', "too large"),
        (b'{"free_bytes": -1e400}', "too large"),
        (b'{"x": NaN}', "NaN"),
        (b'{"x": Infinity}', "Infinity"),
        (b'{"x": -Infinity}', "-Infinity"),
        (b'{"name": "\\ud800"}', "surrogate"),
        (b'{"name": "ok\\udfffok"}', "surrogate"),
        (b'{"\\udc00": 1}', "surrogate"),
        (b'{"deep": [[["\\ud83d"]]]}', "surrogate"),
        (b'{"name": "\xff"}', "not UTF-8"),
        (b'{"name": "\xed\xa0\x80"}', "not UTF-8"),  # a surrogate encoded in UTF-8
        (b"\xef\xbb\xbf{}", "BOM"),
        (b"[1, 2]", "JSON object"),
        (b'"text"', "JSON object"),
        (b"", "invalid JSON"),
        (b'{"a": 1', "invalid JSON"),
    ],
)
def test_what_python_json_accepts_and_our_api_refuses(body, says):
    assert says in refusal(body)


def test_what_it_keeps():
    body = {
        "depth": [[[[{"ok": True}]]]],
        "ints": [INT64_MIN, INT64_MAX, 0, -1],
        "floats": [1.5, -0.0, 1e300],
        "text": 'caf\u00e9 \U0001f600 [not a bracket] \\ud800 "quoted"',
        "null": None,
    }
    assert decode_object(json.dumps(body).encode()) == body
    assert decode_object(json.dumps(body, ensure_ascii=False).encode()) == body
    nested = {"a": json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))}
    assert decode_object(json.dumps(nested).encode()) == nested
    brackets_in_strings = {"s": "[" * 10_000, "t": "{" * 10_000}
    assert decode_object(json.dumps(brackets_in_strings).encode()) == brackets_in_strings


def test_deep_nesting_is_refused_without_building_it():
    started = time.perf_counter()
    refusal(b'{"a": ' + b"[" * 2_000_000 + b"]" * 2_000_000 + b"}")
    assert time.perf_counter() - started < 2.0  # about 0.1 s; a RecursionError before


def test_content_types():
    for accepted in ("application/json", "Application/JSON; charset=utf-8", "application/x+json"):
        check_json_type(accepted)
    for refused in (None, "", "text/plain", "application/jsonp", "multipart/form-data"):
        with pytest.raises(BadRequest):
            check_json_type(refused)


def test_limits_are_per_endpoint_and_fit_what_they_carry():
    assert body_limit("api.login") == body_limit(None) == DEFAULT_BODY_LIMIT <= 16 * 1024
    assert body_limit("master.register_copies") == 1024 * 1024
    # The announcement of a file of MAX_BLOCKS blocks fits its endpoint's limit.
    plan = {
        "name": "n" * 1024,
        "size": MAX_BLOCKS * 65536,
        "hash": "a" * 64,
        "block_size": 65536,
        "blocks": ["b" * 64] * MAX_BLOCKS,
    }
    assert len(json.dumps(plan)) < BODY_LIMITS["master.begin_upload"]


def test_the_decoder_imports_no_flask():
    code = "import sys, app.http.jsonbody; assert 'flask' not in sys.modules, 'flask imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_arrays_and_objects_are_counted_before_they_are_built():
    flat = b'{"blocks": [' + b"[]," * MAX_CONTAINERS + b"[]]}"
    assert "arrays and objects" in refusal(flat)
    batch = {"copies": [{"hash": "a" * 64, "size": 1} for _ in range(10_000)]}
    assert len(decode_object(json.dumps(batch).encode())["copies"]) == 10_000
