from __future__ import annotations

from app.factory import create_app
from tests.support.apps import make_client

REFERENCE_EXAMPLE = {"hash": "test123", "name": "test.txt", "size": 1024, "replicas": ["8001"]}
DIGEST = "ab" * 32


def file_info(response) -> dict:
    """The reference's FileInfo part of a /get answer (it also lists replica locations)."""
    return {k: v for k, v in response.json.items() if k != "locations"}


def test_reference_register_example_is_accepted(master_client):
    response = master_client.post("/register", json=REFERENCE_EXAMPLE)
    assert response.status_code == 200
    assert response.json["message"] == "File registered successfully"
    assert response.json["hash"] == "test123"
    assert file_info(master_client.get("/get?hash=test123")) == REFERENCE_EXAMPLE


def test_replicas_from_several_nodes_accumulate(master_client):
    for node in ("8001", "8002", "8001"):
        master_client.post(
            "/register", json={"hash": DIGEST, "name": "a", "size": 3, "replicas": [node]}
        )
    assert master_client.get(f"/get?hash={DIGEST}").json["replicas"] == ["8001", "8002"]


def test_list_returns_every_file_in_the_reference_shape(master_client):
    assert master_client.get("/list").json == []
    master_client.post("/register", json=REFERENCE_EXAMPLE)
    master_client.post("/register", json={"hash": DIGEST, "name": "b.bin", "size": 0})
    listed = master_client.get("/list").json
    assert listed == [
        REFERENCE_EXAMPLE,
        {"hash": DIGEST, "name": "b.bin", "size": 0, "replicas": []},
    ]


def test_get_unknown_is_404(master_client):
    response = master_client.get(f"/get?hash={DIGEST}")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "file_not_found"


def test_get_without_hash_is_400(master_client):
    response = master_client.get("/get")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "missing_field"


def test_get_with_malformed_hash_is_400(master_client):
    for bad in ("../etc/passwd", "a b", "x" * 129, "<script>"):
        response = master_client.get("/get", query_string={"hash": bad})
        assert response.status_code == 400, bad
        assert response.json["error"]["code"] == "invalid_hash"


def test_register_validates_every_field(master_client):
    cases = [
        ({"name": "a", "size": 1}, "missing_field", "hash"),
        ({"hash": "h", "name": "a"}, "missing_field", "size"),
        ({"hash": "h", "size": -1}, "invalid_field", "size"),
        ({"hash": "h", "size": "12"}, "invalid_field", "size"),
        ({"hash": "h", "size": True}, "invalid_field", "size"),
        ({"hash": "h", "size": 1, "name": 5}, "invalid_field", "name"),
        ({"hash": "h", "size": 1, "replicas": "8001"}, "invalid_field", "replicas"),
        ({"hash": "h", "size": 1, "replicas": ["../x"]}, "invalid_field", "replicas"),
    ]
    for payload, code, field in cases:
        response = master_client.post("/register", json=payload)
        assert response.status_code == 400, payload
        assert response.json["error"]["code"] == code, payload
        assert response.json["error"]["field"] == field, payload
    assert master_client.get("/list").json == []


def test_register_needs_a_json_object(master_client):
    for body, content_type in (
        (b"not json", "application/json"),
        (b"[1]", "application/json"),
        (b'{"hash": "x"}', "text/plain"),
    ):
        response = master_client.post("/register", data=body, content_type=content_type)
        assert response.status_code == 400
        assert response.json["error"]["code"] == "invalid_json"


def test_wrong_method_is_405(master_client):
    response = master_client.get("/register")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"


def test_unknown_route_is_json_404(master_client):
    response = master_client.get("/nope")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_health_counts_files_and_nodes(master_client):
    master_client.post("/register", json=REFERENCE_EXAMPLE)
    master_client.post("/nodes/inventory", json={"node": "8001", "url": "http://127.0.0.1:8001"})
    body = master_client.get("/health").json
    assert body == {
        "status": "OK",
        "role": "master",
        "nodes": 1,
        "files": 1,
        "seedream": "not configured",
    }


def test_inventory_is_validated(master_client):
    bad = [
        {"url": "http://x"},
        {"node": "8001", "url": "ftp://x"},
        {"node": "8001", "url": "http://x", "files": "all"},
        {"node": "8001", "url": "http://x", "files": [1]},
        {"node": "8001", "url": "http://x", "files": [{"hash": "../a", "size": 1}]},
        {"node": "8001", "url": "http://x", "sync_started": "yesterday"},
    ]
    for payload in bad:
        response = master_client.post("/nodes/inventory", json=payload)
        assert response.status_code == 400, payload


def test_registrations_survive_a_new_app_on_the_same_data_dir(tmp_path):
    overrides = {"DATA_DIR": str(tmp_path), "BACKGROUND_TASKS": False}
    make_client(create_app("master", overrides)).post("/register", json=REFERENCE_EXAMPLE)
    again = make_client(create_app("master", overrides))
    assert file_info(again.get("/get?hash=test123")) == REFERENCE_EXAMPLE


def test_a_node_registers_a_batch_of_copies_in_one_call(master_client):
    copies = [
        {"hash": "aa" * 32, "name": "a.txt", "size": 3, "kind": "file", "want_peers": True},
        {"hash": "bb" * 32, "name": "", "size": 4, "kind": "block"},
    ]
    reply = master_client.post(
        "/nodes/register", json={"node": "8001", "url": "http://127.0.0.1:8001", "copies": copies}
    )
    assert reply.status_code == 200, reply.json
    assert [r["hash"] for r in reply.json["results"]] == ["aa" * 32, "bb" * 32]
    assert all(r["replicate_to"] == [] for r in reply.json["results"])  # no other node yet
    # The whole file is listed; the block is a blob only.
    assert [f["hash"] for f in master_client.get("/list").json] == ["aa" * 32]
    assert master_client.get(f"/get?hash={'aa' * 32}").json["replicas"] == ["8001"]
    bad = master_client.post(
        "/nodes/register", json={"node": "8001", "url": "http://x", "copies": []}
    )
    assert bad.status_code == 400 and bad.json["error"]["field"] == "copies"


def test_a_registration_records_the_peers_that_hold_its_copies_too(master_client):
    for node in ("8001", "8002"):
        url = f"http://127.0.0.1:{node}"
        beat = {"node": node, "url": url, "capacity_bytes": 10**9, "free_bytes": 10**9}
        assert master_client.post("/nodes/heartbeat", json=beat).status_code == 200
    copies = [
        # 9999 is no live node: ignored, it registers its copy itself.
        {"hash": "aa" * 32, "name": "a", "size": 3, "want_peers": True, "also": ["8002", "9999"]},
        {"hash": "bb" * 32, "name": "b", "size": 3, "want_peers": True},
    ]
    reply = master_client.post(
        "/nodes/register", json={"node": "8001", "url": "http://127.0.0.1:8001", "copies": copies}
    )
    assert reply.status_code == 200, reply.json
    peer = {"id": "8002", "url": "http://127.0.0.1:8002"}
    # R = 2 reached for the first; the second still needs the peer, and the next copies
    # of 8001 go there too (its placement for the copies it sends beside its own).
    assert [r["replicate_to"] for r in reply.json["results"]] == [[], [peer]]
    assert reply.json["peers"] == [peer]
    assert master_client.get(f"/get?hash={'aa' * 32}").json["replicas"] == ["8001", "8002"]
    assert master_client.get(f"/get?hash={'bb' * 32}").json["replicas"] == ["8001"]
    for also in ("8002", [7], ["../x"], ["n"] * 17):
        bad = master_client.post(
            "/nodes/register",
            json={"node": "8001", "url": "http://x", "copies": [{**copies[1], "also": also}]},
        )
        assert bad.status_code == 400 and bad.json["error"]["field"] == "also", also
