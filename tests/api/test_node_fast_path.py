"""Which requests the node's fast path answers, and that its answer is the Flask view's."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from app.cluster.blob_batches import BLOBS_MEDIA_TYPE, encode_blobs
from app.security import READ, WRITE, sign_url
from app.server.connection import FAST_PATH, FastRequest
from tests.support.apps import BLOB_HEADERS, make_client

BODY = b"fast bytes\n" * 100
DIGEST = hashlib.sha256(BODY).hexdigest()


def stored(app) -> None:
    make_client(app).put("/upload?name=notes.txt&register=0", data=BODY)


def ask(app, target: str, method: bytes = b"GET", **headers: str):
    handler = app.extensions[FAST_PATH].handler
    fields = {name.lower().encode(): value.encode() for name, value in headers.items()}
    response = handler(FastRequest(method, target.encode(), fields))
    if response is not None:
        os.close(response.fd)
    return response


def test_a_plain_get_of_a_stored_blob_is_answered_with_the_views_headers(node_app):
    stored(node_app)
    response = ask(node_app, f"/retrieve?hash={DIGEST}")
    assert response is not None and response.size == len(BODY)
    fast = dict(line.split(": ", 1) for line in response.headers.decode().split("\r\n") if line)
    view = make_client(node_app).get(f"/retrieve?hash={DIGEST}")
    assert view.data == BODY
    for name in BLOB_HEADERS:
        assert fast[name] == view.headers[name], name


@pytest.mark.parametrize(
    "target, method, headers",
    [
        (f"/retrieve?hash={DIGEST}", b"HEAD", {}),
        (f"/retrieve?hash={DIGEST}", b"POST", {}),
        (f"/retrieve?hash={DIGEST}", b"GET", {"Range": "bytes=0-1"}),
        (f"/retrieve?hash={DIGEST}", b"GET", {"If-None-Match": f'"{DIGEST}"'}),
        (f"/retrieve?hash={DIGEST}", b"GET", {"If-Modified-Since": "Tue, 1 Jan 2030 00:00:00 GMT"}),
        (f"/retrieve?hash={DIGEST}", b"GET", {"If-Range": f'"{DIGEST}"'}),
        (f"/retrieve?hash={DIGEST.upper()}", b"GET", {}),
        ("/retrieve?hash=../../etc/passwd", b"GET", {}),
        (f"/retrieve?hash={'0' * 64}", b"GET", {}),  # not stored: the view answers 404
        (f"/retrieve/?hash={DIGEST}", b"GET", {}),
        ("/health", b"GET", {}),
    ],
)
def test_everything_else_is_left_to_the_flask_view(node_app, target, method, headers):
    stored(node_app)
    assert ask(node_app, target, method, **headers) is None


def test_in_secured_mode_only_a_valid_read_token_is_answered(make_node_app):
    secret = "s" * 32
    app = make_node_app(CLUSTER_SECRET=secret)
    make_client(app).put(
        "/upload?name=notes.txt&register=0", data=BODY, headers={"X-Mdbx-Cluster-Secret": secret}
    )
    plain = f"/retrieve?hash={DIGEST}"
    assert ask(app, plain) is None  # the view refuses it, with its error
    assert ask(app, sign_url(plain, "x" * 32, READ, DIGEST, 60)) is None  # wrong key
    assert ask(app, sign_url(plain, secret, READ, DIGEST, -1)) is None  # expired
    assert ask(app, sign_url(plain, secret, READ, DIGEST, 60)) is not None


def put_fast(app, target: str, body: bytes, method: bytes = b"PUT", **headers: str):
    fast = app.extensions[FAST_PATH]
    fields = {name.lower().encode(): value.encode() for name, value in headers.items()}
    request = FastRequest(method, target.encode(), fields, body)
    assert fast.wants_body(request) and len(body) <= fast.body_limit
    response = fast.handler(request)
    assert response is not None
    return response.status, json.loads(response.body)


def test_a_small_raw_put_is_stored_and_answered_as_the_view_answers(node_app):
    status, fast = put_fast(node_app, "/upload?name=a.bin&register=0", b"fast upload")
    view = make_client(node_app).put("/upload?name=b.bin&register=0", data=b"view upload")
    assert status == 200 == view.status_code
    assert fast.keys() == view.json.keys()
    assert fast["hash"] == hashlib.sha256(b"fast upload").hexdigest()
    assert (fast["name"], fast["size"], fast["registered"]) == ("a.bin", 11, True)
    assert make_client(node_app).get(f"/retrieve?hash={fast['hash']}").data == b"fast upload"
    again = put_fast(node_app, "/upload?name=c.bin&register=0", b"fast upload")[1]
    assert again["deduplicated"] is True


@pytest.mark.parametrize(
    "target, body",
    [
        (f"/upload?hash={'0' * 64}", b"not that"),  # 400 hash_mismatch
        ("/upload?hash=xyz", b"bad hash"),  # 400 invalid_hash
        ("/upload?kind=other", b"bad kind"),  # 400
        ("/upload", b"x" * 200),  # 413 over MAX_UPLOAD_SIZE
    ],
)
def test_upload_errors_are_the_views_errors(make_node_app, tmp_path, target, body):
    app = make_node_app(MAX_UPLOAD_SIZE=100)
    status, fast = put_fast(app, target, body)
    view = make_client(app).put(target, data=body)
    assert (status, fast) == (view.status_code, view.json)
    assert status in (400, 413)
    assert list((tmp_path / "node" / "tmp").iterdir()) == []


def test_in_secured_mode_an_upload_needs_a_write_token_or_the_cluster_header(make_node_app):
    secret = "s" * 32
    app = make_node_app(CLUSTER_SECRET=secret)
    body = b"secured bytes"
    digest = hashlib.sha256(body).hexdigest()
    plain = f"/upload?hash={digest}&register=0"
    for target, headers in [(plain, {}), (sign_url(plain, "x" * 32, WRITE, digest, 60), {})]:
        status, fast = put_fast(app, target, body, **headers)
        view = make_client(app).put(target, data=body, headers=headers)
        assert (status, fast) == (view.status_code, view.json) and status in (401, 403)
    assert put_fast(app, sign_url(plain, secret, WRITE, digest, 60), body)[0] == 200
    assert put_fast(app, plain, body, **{"X-Mdbx-Cluster-Secret": secret})[0] == 200


BOUNDARY = "fastformboundary"
FORM_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
CLOSE = f"--{BOUNDARY}--\r\n".encode()


def form(content: bytes, filename: str = "notes.txt", **fields: str) -> bytes:
    """A multipart body as a browser or curl -F sends it: text fields, then the file."""
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"'
        "\r\nContent-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    return b"".join(parts) + CLOSE


def post_both(app, target: str, body: bytes, content_type: str = FORM_TYPE):
    """The overlay's answer to a form, then the Flask view's to the same bytes."""
    fast = put_fast(app, target, body, b"POST", **{"Content-Type": content_type})
    view = make_client(app).post(target, data=body, headers={"Content-Type": content_type})
    return fast, (view.status_code, view.json)


def test_a_small_multipart_post_is_stored_and_answered_as_the_view_answers(node_app):
    content = b"the reference's upload\n" * 50
    digest = hashlib.sha256(content).hexdigest()
    (status, fast), (view_status, view) = post_both(
        node_app, "/upload?register=0", form(content, "r\u00e9f.txt", hash=digest)
    )
    assert status == 200 == view_status
    assert fast.keys() == view.keys()
    assert (fast["hash"], fast["name"], fast["size"]) == (digest, "r\u00e9f.txt", len(content))
    assert (fast["deduplicated"], view["deduplicated"]) == (False, True)
    assert make_client(node_app).get(f"/retrieve?hash={digest}").data == content


@pytest.mark.parametrize(
    "target, body, content_type",
    [
        ("/upload", form(b"x" * 200), FORM_TYPE),  # 413 over MAX_UPLOAD_SIZE
        ("/upload", form(b"abc", hash="0" * 64), FORM_TYPE),  # 400 hash_mismatch (the field)
        (f"/upload?hash={'0' * 64}", form(b"abc"), FORM_TYPE),  # 400 hash_mismatch (the query)
        ("/upload", form(b"abc", hash="xyz"), FORM_TYPE),  # 400 invalid_hash (the field)
        ("/upload?kind=other", form(b"abc"), FORM_TYPE),  # 400 invalid_field
        ("/upload", form(b"abc"), "text/plain"),  # 415: not a form
        ("/upload", form(b"abc"), "multipart/form-data"),  # 400: no boundary
        ("/upload", form(b"abc")[:-30], FORM_TYPE),  # 400: the body ended early
        ("/upload", form(b"abc").replace(b'name="file"', b'name="other"'), FORM_TYPE),
        ("/upload", form(b"abc").removesuffix(CLOSE) + form(b"def"), FORM_TYPE),  # two files
        ("/upload", form(b"abc", note="n" * (65 * 1024)), FORM_TYPE),  # a field over 64 KiB
    ],
)
def test_multipart_errors_are_the_views_errors(make_node_app, tmp_path, target, body, content_type):
    app = make_node_app(MAX_UPLOAD_SIZE=100)
    fast, view = post_both(app, target, body, content_type)
    assert fast == view
    assert 400 <= fast[0] < 500, fast
    assert list((tmp_path / "node" / "tmp").iterdir()) == []
    assert app.extensions["mdbx.node"].catalog.stats().blobs == 0


def test_in_secured_mode_a_form_needs_a_write_token_or_the_cluster_header(make_node_app):
    secret = "s" * 32
    app = make_node_app(CLUSTER_SECRET=secret)
    content = b"secured form"
    digest = hashlib.sha256(content).hexdigest()
    plain = f"/upload?hash={digest}&register=0"
    for target in (plain, sign_url(plain, "x" * 32, WRITE, digest, 60)):
        fast, view = post_both(app, target, form(content))
        assert fast == view and fast[0] in (401, 403)
    assert post_both(app, sign_url(plain, secret, WRITE, digest, 60), form(content))[0][0] == 200


def blobs_both(app, target: str, body: bytes, **headers: str):
    """The overlay's answer to a ``POST /blobs``, then the Flask view's to the same bytes."""
    headers = {"Content-Type": BLOBS_MEDIA_TYPE, **headers}
    fast = put_fast(app, target, body, b"POST", **headers)
    view = make_client(app).post(target, data=body, headers=headers)
    return fast, (view.status_code, view.json)


def test_a_peers_batch_of_copies_is_stored_and_answered_as_the_view_answers(make_node_app):
    app = make_node_app(MAX_UPLOAD_SIZE=100)
    sent = [(hashlib.sha256(b).hexdigest(), f"{i}.bin", b) for i, b in enumerate([b"a", b"bc"])]
    wrong = [("0" * 64, "x.bin", b"not that"), *sent]
    (status, fast), (view_status, view) = blobs_both(app, "/blobs?kind=file", encode_blobs(wrong))
    assert status == 200 == view_status
    assert fast["results"][0]["error"]["code"] == "hash_mismatch"
    assert [r["deduplicated"] for r in fast["results"][1:]] == [False, False]
    assert [r["deduplicated"] for r in view["results"][1:]] == [True, True]
    for digest, _name, data in sent:
        assert make_client(app).get(f"/retrieve?hash={digest}").data == data
    for target, body in [
        ("/blobs?kind=other", encode_blobs(sent)),  # 400 invalid_field
        ("/blobs", encode_blobs(sent)[:-1]),  # 400 malformed_batch: shorter than it says
        ("/blobs", encode_blobs([("1" * 64, "big", b"x" * 101)])),  # 413 over MAX_UPLOAD_SIZE
    ]:
        fast_answer, view_answer = blobs_both(app, target, body)
        assert fast_answer == view_answer and fast_answer[0] in (400, 413), target


def test_in_secured_mode_a_batch_of_copies_needs_the_cluster_header(make_node_app):
    secret = "s" * 32
    app = make_node_app(CLUSTER_SECRET=secret)
    body = encode_blobs([(hashlib.sha256(b"c").hexdigest(), "c", b"c")])
    fast, view = blobs_both(app, "/blobs", body)
    assert fast == view and fast[0] == 401
    assert blobs_both(app, "/blobs", body, **{"X-Mdbx-Cluster-Secret": secret})[0][0] == 200
