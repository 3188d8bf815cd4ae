"""The master's fast path answers /assign and /nodes/register as the Flask views do."""

from __future__ import annotations

import json

import pytest

from app.factory import create_app
from app.server.connection import FAST_PATH, FastRequest
from tests.support.apps import make_client

SECRET = "c" * 32
NODE = {"node": "8001", "url": "http://127.0.0.1:8001"}


def ask(app, target: str, body: bytes = b"", **headers: str):
    """The fast path's answer: None when it hands the request to Flask."""
    fast = app.extensions[FAST_PATH]
    fields = {name.lower().encode(): value.encode() for name, value in headers.items()}
    request = FastRequest(b"POST", target.encode(), fields, body)
    if body:
        assert fast.wants_body(request)
    response = fast.handler(request)
    return None if response is None else (response.status, json.loads(response.body))


def registration(*hashes: str) -> bytes:
    copies = [{"hash": h, "name": f"{h[:4]}.txt", "size": 3, "kind": "file"} for h in hashes]
    return json.dumps({**NODE, "copies": copies}).encode()


def test_registrations_and_assignments_match_the_views(master_app, master_client):
    json_type = {"Content-Type": "application/json"}
    fast = ask(master_app, "/nodes/register", registration("aa" * 32), **json_type)
    view = master_client.post("/nodes/register", data=registration("bb" * 32), headers=json_type)
    assert fast is not None and fast[0] == view.status_code == 200
    assert fast[1]["results"][0]["hash"] == "aa" * 32 and fast[1].keys() == view.json.keys()
    assert master_client.get(f"/get?hash={'aa' * 32}").json["replicas"] == ["8001"]
    master_client.post(
        "/nodes/heartbeat",
        json={**NODE, "capacity_bytes": 10**12, "free_bytes": 10**12, "used_bytes": 0, "files": 1},
    )
    for target in ("/assign", "/assign?count=1"):
        status, answer = ask(master_app, target)
        assert (status, answer) == (200, master_client.post(target).json)
        assert answer["upload_url"] == "http://127.0.0.1:8001/upload"
    # A count that is not a positive integer is refused alike (tests/api/test_one_rule.py).
    status, answer = ask(master_app, "/assign?count=x")
    assert (status, answer) == (400, master_client.post("/assign?count=x").json)


@pytest.mark.parametrize(
    "target, body, headers",
    [
        ("/nodes/register?x=1", registration("cc" * 32), {"Content-Type": "application/json"}),
        ("/nodes/heartbeat", b"", {}),
        ("/upload", b"", {}),
    ],
)
def test_what_it_does_not_know_goes_to_flask(master_app, target, body, headers):
    fast = master_app.extensions[FAST_PATH]
    fields = {k.lower().encode(): v.encode() for k, v in headers.items()}
    assert fast.handler(FastRequest(b"POST", target.encode(), fields, body)) is None


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"not json", "application/json"),
        (registration("cc" * 32), "text/plain"),
        (b"[1, 2]", "application/json"),
        # Issue #17: nesting, numbers and strings that Python's json accepts and our API
        # must not (the fast path closed the connection on the first one).
        (b'{"copies":' + b"[" * 100_000 + b"]" * 100_000 + b"}", "application/json"),
        (b'{"copies": [{"size": 9223372036854775808}]}', "application/json"),
        (b'{"copies": [{"size": NaN}]}', "application/json"),
        (b'{"copies": [{"size": 1e400}]}', "application/json"),
        (b'{"node": "\\ud800", "copies": []}', "application/json"),
        (b'{"node": "\xff"}', "application/json"),
    ],
)
def test_bad_json_gets_the_views_answer(master_app, master_client, body, content_type):
    headers = {"Content-Type": content_type}
    fast = ask(master_app, "/nodes/register", body, **headers)
    view = master_client.post("/nodes/register", data=body, headers=headers)
    assert fast == (view.status_code, view.json)
    assert fast[0] == 400 and fast[1]["error"]["code"] == "invalid_json"


def test_a_bad_registration_gets_the_views_error(master_app, master_client):
    body = json.dumps({**NODE, "copies": []}).encode()
    json_type = {"Content-Type": "application/json"}
    fast = ask(master_app, "/nodes/register", body, **json_type)
    view = master_client.post("/nodes/register", data=body, headers=json_type)
    assert fast == (view.status_code, view.json) and fast[0] == 400


def test_in_secured_mode_only_the_cluster_header_is_taken_here(tmp_path):
    app = create_app(
        "master",
        {"DATA_DIR": str(tmp_path / "m"), "BACKGROUND_TASKS": False, "CLUSTER_SECRET": SECRET},
    )
    try:
        client = make_client(app)
        json_type = {"Content-Type": "application/json"}
        body = registration("dd" * 32)
        assert ask(app, "/assign") is None  # no credentials: Flask answers 401
        assert ask(app, "/nodes/register", body, **json_type) is None
        wrong = {"X-Mdbx-Cluster-Secret": "w" * 32}
        for target, payload in (("/assign", b""), ("/nodes/register", body)):
            fast = ask(app, target, payload, **json_type, **wrong)
            view = client.post(target, data=payload, headers={**json_type, **wrong})
            assert fast == (view.status_code, view.json) and fast[0] == 403
        right = {"X-Mdbx-Cluster-Secret": SECRET}
        assert ask(app, "/nodes/register", body, **json_type, **right)[0] == 200
    finally:
        app.extensions["mdbx.master"].index.close()
