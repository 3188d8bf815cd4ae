"""POST /uploads is bounded (#17): blocks per upload follow from the size and have a cap,
and one client may hold only so many uploads, and blocks, open at once."""

from __future__ import annotations

import pytest

from app.factory import create_app
from app.master.validation import MAX_BLOCKS
from tests.support.apps import make_client

SECRET = "u" * 32
CLUSTER = {"X-Mdbx-Cluster-Secret": SECRET}
BLOCK = 65536


def plan(seed: int, blocks: int = 2) -> dict:
    hashes = [f"{seed:04x}{i:060x}" for i in range(blocks)]
    return {
        "name": f"f{seed}",
        "size": blocks * BLOCK,
        "hash": f"{seed:04x}" + "f" * 60,
        "block_size": BLOCK,
        "blocks": hashes,
    }


@pytest.fixture
def make_master(tmp_path):
    made = []

    def make(**overrides):
        config = {
            "DATA_DIR": str(tmp_path / f"m{len(made)}"),
            "BACKGROUND_TASKS": False,
            "MAX_OPEN_UPLOADS": 3,
            "MAX_OPEN_UPLOAD_BLOCKS": 7,
            **overrides,
        }
        app = create_app("master", config)
        made.append(app)
        client = make_client(app)
        beat = {"node": "8001", "url": "http://127.0.0.1:8001"}
        headers = CLUSTER if config.get("CLUSTER_SECRET") else {}
        assert client.post("/nodes/heartbeat", json=beat, headers=headers).status_code == 200
        return client

    yield make
    for app in made:
        app.extensions["mdbx.master"].index.close()


def announce(client, body, address="127.0.0.1", **headers):
    return client.post(
        "/uploads", json=body, headers=headers, environ_base={"REMOTE_ADDR": address}
    )


def error(reply) -> tuple[int, str]:
    return reply.status_code, reply.json["error"]["code"]


def test_open_uploads_per_client_address_are_capped(make_master):
    client = make_master()
    opened = [announce(client, plan(i)).json["upload_id"] for i in range(3)]
    assert error(announce(client, plan(3))) == (429, "too_many_open_uploads")
    # A made-up bearer token in open mode is checked by nobody, so it counts for nothing.
    forged = announce(client, plan(3), Authorization="Bearer made-up")
    assert error(forged) == (429, "too_many_open_uploads")
    assert announce(client, plan(3), address="10.0.0.9").status_code == 200
    # Closing one, by commit or abort, makes room again.
    assert client.delete(f"/uploads/{opened[0]}").status_code == 200
    assert announce(client, plan(4)).status_code == 200


def test_the_blocks_open_uploads_list_are_capped(make_master):
    client = make_master()
    assert announce(client, plan(1, blocks=5)).status_code == 200
    assert error(announce(client, plan(2, blocks=3))) == (429, "too_many_open_blocks")
    assert announce(client, plan(2, blocks=2)).status_code == 200


def test_a_file_the_cluster_has_opens_nothing(make_master):
    client = make_master()
    body = plan(1, blocks=1)
    body["hash"] = body["blocks"][0]
    client.post("/register", json={"hash": body["hash"], "name": "x", "size": BLOCK})
    for _ in range(5):
        assert announce(client, body).json["complete"] is True


def test_limits_of_zero_mean_none(make_master):
    client = make_master(MAX_OPEN_UPLOADS=0, MAX_OPEN_UPLOAD_BLOCKS=0)
    for i in range(10):
        assert announce(client, plan(i)).status_code == 200


def test_an_admin_token_has_its_own_room_in_secured_mode(make_master):
    client = make_master(CLUSTER_SECRET=SECRET)
    added = client.post(
        "/api/admin/users",
        json={"username": "root", "password": "pw", "admin": True},
        headers=CLUSTER,
    )
    assert added.status_code == 200
    token = client.post("/api/login", json={"username": "root", "password": "pw"}).json["token"]
    admin = {"Authorization": f"Bearer {token}"}
    for i in range(3):
        assert announce(client, plan(i), **CLUSTER).status_code == 200
    assert error(announce(client, plan(3), **CLUSTER)) == (429, "too_many_open_uploads")
    assert announce(client, plan(3), **admin).status_code == 200
    # With the cluster header, a bearer token is not what was checked: the address counts.
    both = announce(client, plan(4), **CLUSTER, **admin)
    assert error(both) == (429, "too_many_open_uploads")


def test_too_many_blocks_for_one_upload_is_413(make_master):
    client = make_master()
    body = {**plan(1), "size": (MAX_BLOCKS + 1) * BLOCK, "blocks": []}
    assert error(announce(client, body)) == (413, "too_many_blocks")
