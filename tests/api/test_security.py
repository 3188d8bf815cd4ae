"""The secured cluster mode through the Flask test client: who may call what."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.factory import create_app
from app.security import CLUSTER_HEADER, READ, WRITE, blob_token, check_blob_token, sign_url
from tests.support.apps import make_client

SECRET = "test-cluster-secret-0123456789"
CLUSTER = {CLUSTER_HEADER: SECRET}
PAYLOAD = b"secured bytes\n"
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def node(make_node_app) -> FlaskClient:
    return make_client(make_node_app(CLUSTER_SECRET=SECRET))


@pytest.fixture
def secured_master(tmp_path: Path):
    app = create_app(
        "master",
        {"DATA_DIR": str(tmp_path / "master"), "BACKGROUND_TASKS": False, "CLUSTER_SECRET": SECRET},
    )
    yield app
    app.extensions["mdbx.master"].index.close()


@pytest.fixture
def master(secured_master: Flask) -> FlaskClient:
    return make_client(secured_master)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def put_url(**params: str) -> str:
    return "/upload?" + "&".join(f"{k}={v}" for k, v in {"hash": DIGEST, **params}.items())


def error_code(response) -> str:
    return response.json["error"]["code"]


# ----- node -----


def test_node_health_stays_open(node):
    assert node.get("/health").status_code == 200


def test_unsigned_node_write_is_401_and_a_wrong_token_403(node):
    unsigned = node.put(put_url(), data=PAYLOAD)
    assert unsigned.status_code == 401 and error_code(unsigned) == "missing_credentials"
    assert unsigned.headers["WWW-Authenticate"].startswith("Bearer")
    forged = blob_token("another-secret-of-16-chars", WRITE, DIGEST, 60)
    for token in (forged, "garbage", blob_token(SECRET, READ, DIGEST, 60)):
        refused = node.put(put_url(token=token), data=PAYLOAD)
        assert refused.status_code == 403 and error_code(refused) == "invalid_token"
    assert node.get("/health").json["files"] == 0


def test_signed_node_write_and_read(node):
    url = sign_url(put_url(kind="block"), SECRET, WRITE, DIGEST, 60)
    stored = node.put(url, data=PAYLOAD)
    assert stored.status_code == 200, stored.json
    assert stored.json["hash"] == DIGEST and stored.json["kind"] == "block"
    assert node.get(f"/retrieve?hash={DIGEST}").status_code == 401
    read = sign_url(f"/retrieve?hash={DIGEST}", SECRET, READ, DIGEST, 60)
    assert node.get(read).data == PAYLOAD
    write_token = query(url)["token"]
    assert node.get(f"/retrieve?hash={DIGEST}&token={write_token}").status_code == 403


def test_a_signed_write_cannot_change_its_chain_or_kind(node, dead_url):
    token = query(sign_url(put_url(kind="block"), SECRET, WRITE, DIGEST, 60))["token"]
    for changed in (put_url(kind="file"), put_url(kind="block", chain=dead_url), put_url()):
        refused = node.put(f"{changed}&token={token}", data=PAYLOAD)
        assert refused.status_code == 403 and error_code(refused) == "invalid_token", changed


def test_a_multipart_write_without_hash_takes_only_the_cluster_header(node):
    token = blob_token(SECRET, WRITE, DIGEST, 60)
    refused = node.post(f"/upload?token={token}", data={"file": (io.BytesIO(PAYLOAD), "a.txt")})
    assert refused.status_code == 403 and error_code(refused) == "invalid_token"
    form = {"file": (io.BytesIO(PAYLOAD), "a.txt")}
    stored = node.post("/upload", data=form, headers=CLUSTER)
    assert stored.status_code == 200 and stored.json["hash"] == DIGEST


def test_cluster_endpoints_of_a_node_take_only_the_header(node):
    token = blob_token(SECRET, WRITE, DIGEST, 60)
    for method, path in (
        ("post", "/replicate"),
        ("delete", f"/blobs/{DIGEST}"),
        ("post", "/scrub"),
    ):
        assert getattr(node, method)(path).status_code == 401, path
        with_token = getattr(node, method)(f"{path}?hash={DIGEST}&token={token}")
        assert with_token.status_code == 403 and error_code(with_token) == "forbidden", path
        wrong = getattr(node, method)(path, headers={CLUSTER_HEADER: "x" * 30})
        assert wrong.status_code == 403 and error_code(wrong) == "forbidden", path
    assert node.post("/scrub", headers=CLUSTER).status_code == 200
    assert node.delete(f"/blobs/{DIGEST}", headers=CLUSTER).status_code == 404  # let through


# ----- master -----


def test_master_health_is_open_and_the_rest_needs_credentials(master):
    assert master.get("/health").status_code == 200
    for method, path in (("get", "/list"), ("get", "/nodes"), ("post", "/seedream/generate")):
        refused = getattr(master, method)(path)
        assert refused.status_code == 401 and error_code(refused) == "missing_credentials", path
    assert master.get("/list", headers=CLUSTER).json == []
    wrong = master.get("/list", headers={CLUSTER_HEADER: "y" * 30})
    assert wrong.status_code == 403 and error_code(wrong) == "forbidden"
    assert master.get("/nope").status_code == 404


def test_admin_bearer_tokens_open_the_global_api_not_the_node_endpoints(master, secured_master):
    bearer = {"Authorization": "Bearer admin-token"}
    without_check = master.get("/list", headers=bearer)
    assert without_check.status_code == 403 and error_code(without_check) == "invalid_token"
    secured_master.extensions["mdbx.admin_token_check"] = lambda token: token == "admin-token"
    assert master.get("/list", headers=bearer).status_code == 200
    other = master.get("/list", headers={"Authorization": "Bearer someone"})
    assert other.status_code == 403 and error_code(other) == "invalid_token"
    beat = {"node": "8001", "url": "http://127.0.0.1:8001"}
    assert master.post("/nodes/heartbeat", json=beat).status_code == 401
    by_admin = master.post("/nodes/heartbeat", json=beat, headers=bearer)
    assert by_admin.status_code == 403 and error_code(by_admin) == "forbidden"
    assert master.post("/nodes/heartbeat", json=beat, headers=CLUSTER).status_code == 200


def _two_nodes(master: FlaskClient) -> None:
    for port in (8001, 8002):
        beat = {"node": str(port), "url": f"http://127.0.0.1:{port}", "free_bytes": 1 << 30}
        assert master.post("/nodes/heartbeat", json=beat, headers=CLUSTER).status_code == 200


def test_master_signs_download_redirects_and_block_maps(master):
    _two_nodes(master)
    record = {"hash": DIGEST, "name": "a.txt", "size": len(PAYLOAD), "replicas": ["8001"]}
    assert master.post("/register", json=record, headers=CLUSTER).status_code == 200
    redirect = master.get(f"/download?hash={DIGEST}", headers=CLUSTER)
    assert redirect.status_code == 302
    location = redirect.headers["Location"]
    assert location.startswith(f"http://127.0.0.1:8001/retrieve?hash={DIGEST}&token=")
    assert check_blob_token(SECRET, query(location)["token"], READ, DIGEST)
    (block,) = master.get(f"/files/{DIGEST}/blocks", headers=CLUSTER).json["blocks"]
    assert block["urls"] == ["http://127.0.0.1:8001"]
    assert check_blob_token(SECRET, block["token"], READ, DIGEST)


def test_upload_plans_carry_write_urls_signed_for_their_chain(master):
    _two_nodes(master)
    blocks = ["1" * 64, "2" * 64]
    plan = {"name": "big", "size": 2 * 65536, "hash": "3" * 64, "block_size": 65536}
    answer = master.post("/uploads", json={**plan, "blocks": blocks}, headers=CLUSTER).json
    for missing in answer["missing"]:
        params = query(missing["url"])
        assert params["chain"].startswith("http://127.0.0.1:800")
        assert check_blob_token(SECRET, params["token"], WRITE, missing["hash"], params)
        assert not check_blob_token(SECRET, params["token"], WRITE, missing["hash"], {})


def test_open_mode_urls_carry_no_token(master_client):
    beat = {"node": "8001", "url": "http://127.0.0.1:8001"}
    assert master_client.post("/nodes/heartbeat", json=beat).status_code == 200
    record = {"hash": DIGEST, "name": "a.txt", "size": len(PAYLOAD), "replicas": ["8001"]}
    master_client.post("/register", json=record)
    location = master_client.get(f"/download?hash={DIGEST}").headers["Location"]
    assert location == f"http://127.0.0.1:8001/retrieve?hash={DIGEST}"
    (block,) = master_client.get(f"/files/{DIGEST}/blocks").json["blocks"]
    assert "token" not in block
