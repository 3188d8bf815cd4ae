"""POST /api/generate through the Flask test client: Seedream's generation (the fake
server upstream, a real node on loopback) with the results stored in a folder of the
caller's own files, private and counted in their quota, and reference images read
from their files by path."""

from __future__ import annotations

import hashlib
from urllib.parse import quote

import pytest
from urllib3 import encode_multipart_formdata

from app.security import CLUSTER_HEADER
from tests.api.test_seedream import KEY, build_master, fake, image_bytes, parse_sse  # noqa: F401
from tests.support.apps import make_client, serve_app

# Secured mode: the node checks the master's read tokens of private copies with the
# cluster secret (in open mode it would first have to learn the master's signing key).
SECRET = "test-cluster-secret-0123456789"
CLUSTER = {CLUSTER_HEADER: SECRET}


@pytest.fixture
def client(tmp_path, fake, make_node_app):  # noqa: F811
    master = build_master(
        tmp_path,
        SEEDREAM_API_KEY=KEY,
        SEEDREAM_BASE_URL=fake.base_url,
        SEEDREAM_TIMEOUT=1.0,
        SEEDREAM_RETRIES=1,
        CLUSTER_SECRET=SECRET,
    )
    client = make_client(master)
    with serve_app(make_node_app(CLUSTER_SECRET=SECRET, NODE_ID="n1")) as node_url:
        live = client.post(
            "/nodes/inventory", json={"node": "n1", "url": node_url}, headers=CLUSTER
        )
        assert live.status_code == 200
        yield client
    master.extensions["mdbx.master"].index.close()


def add_user(client, name: str, quota: int = 0) -> dict[str, str]:
    made = client.post(
        "/api/admin/users",
        json={"username": name, "password": f"pw-{name}", "quota_bytes": quota},
        headers=CLUSTER,
    )
    assert made.status_code == 200, made.json
    token = client.post("/api/login", json={"username": name, "password": f"pw-{name}"})
    return {"Authorization": f"Bearer {token.json['token']}"}


def generate(client, bearer, fields):
    body, content_type = encode_multipart_formdata(list(fields.items()))
    return client.post("/api/generate", data=body, content_type=content_type, headers=bearer)


@pytest.fixture
def carol(client):
    return add_user(client, "carol")


def test_images_land_in_the_folder_and_stay_private(client, fake, carol):  # noqa: F811
    reply = generate(client, carol, {"prompt": "a red fox", "folder": "/Art/foxes"})
    assert reply.status_code == 200, reply.json
    [image] = reply.json["images"]
    assert image["path"].startswith("/Art/foxes/seedream-a-red-fox-1-")
    assert image["url"] == "/api/files" + quote(image["path"])
    got = client.get(image["url"], headers=carol)
    assert got.status_code == 200 and len(got.data) == image["bytes"] > 0
    assert hashlib.sha256(got.data).hexdigest() == image["hash"]
    listed = client.get("/api/list?path=/Art/foxes", headers=carol).json["entries"]
    assert [entry["path"] for entry in listed] == [image["path"]]
    assert client.get("/api/account", headers=carol).json["used_bytes"] == image["bytes"]
    # Not in the global catalogue: its hash leads nowhere outside carol's files.
    assert image["hash"] not in {
        record["hash"] for record in client.get("/list", headers=CLUSTER).json
    }
    assert client.get(f"/download?hash={image['hash']}", headers=CLUSTER).status_code == 404
    dave = add_user(client, "dave")
    assert client.get(image["url"], headers=dave).status_code == 404


def test_the_stream_sends_events_and_stores_each_image(client, fake, carol):  # noqa: F811
    fields = {"prompt": "two owls", "folder": "/Owls", "max_images": "2", "stream": "true"}
    reply = generate(client, carol, fields)
    assert reply.status_code == 200 and reply.mimetype == "text/event-stream"
    events = parse_sse(reply.get_data(as_text=True))
    assert [kind for kind, _ in events] == ["image", "image", "completed"]
    paths = [data["path"] for kind, data in events if kind == "image"]
    assert [image["path"] for image in events[-1][1]["images"]] == paths
    listed = client.get("/api/list?path=/Owls", headers=carol).json["entries"]
    assert sorted(entry["path"] for entry in listed) == sorted(paths)


def test_a_reference_image_comes_from_the_callers_files(client, fake, carol):  # noqa: F811
    picture = image_bytes()
    assert client.put("/api/files/refs/cat.png", data=picture, headers=carol).status_code == 200
    fields = {"prompt": "the cat, in oils", "folder": "/Art", "image1_path": "/refs/cat.png"}
    reply = generate(client, carol, fields)
    assert reply.status_code == 200, reply.json
    sent = fake.requests[-1].json["image"]
    assert sent.startswith("data:image/png;base64,")
    # Another user's path is theirs to name, not carol's to read.
    eve = add_user(client, "eve")
    before = len(fake.requests)
    refused = generate(client, eve, fields)
    assert refused.status_code == 404 and refused.json["error"]["code"] == "path_not_found"
    assert len(fake.requests) == before


def test_refusals_cost_nothing_upstream(client, fake, carol):  # noqa: F811
    cases = [
        ({"prompt": "x"}, 400, "missing_field"),
        ({"prompt": "x", "folder": "/a/../b"}, 400, "invalid_path"),
        ({"prompt": "", "folder": "/Art"}, 400, "missing_field"),
        ({"prompt": "x", "folder": "/Art", "seed": "many"}, 400, "invalid_field"),
        ({"prompt": "x", "folder": "/Art", "image1_path": "/nope.png"}, 404, "path_not_found"),
    ]
    for fields, status, code in cases:
        reply = generate(client, carol, fields)
        assert (reply.status_code, reply.json["error"]["code"]) == (status, code), fields
    assert fake.requests == []
    # A refused generation leaves no folder behind.
    assert client.get("/api/list?path=/Art", headers=carol).status_code == 404


def test_an_image_over_quota_is_reported_not_stored(client, fake):  # noqa: F811
    tiny = add_user(client, "tiny", quota=10)
    reply = generate(client, tiny, {"prompt": "a big mural", "folder": "/Murals"})
    assert reply.status_code == 200
    [image] = reply.json["images"]
    assert image["error"]["code"] == "quota_exceeded"
    assert image["error"]["message"].startswith("generated, but not stored")
    assert client.get("/api/account", headers=tiny).json["used_bytes"] == 0


def test_a_cookie_needs_the_csrf_token(client, fake):  # noqa: F811
    add_user(client, "frank")
    assert client.post("/login", data={"username": "frank", "password": "pw-frank"}).status_code
    body, content_type = encode_multipart_formdata([("prompt", "x"), ("folder", "/A")])
    reply = client.post("/api/generate", data=body, content_type=content_type)
    assert reply.status_code == 403 and reply.json["error"]["code"] == "csrf_failed"
    assert fake.requests == []
