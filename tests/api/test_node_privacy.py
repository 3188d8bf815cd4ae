"""A node in open mode: private copies are read only through a master-signed URL, and a
node fetches from and forwards to only the nodes its master lists (#17).

The master is a stand-in HTTP server (its answers to heartbeats, inventories and
``GET /nodes``, and a peer's ``/retrieve``): the node learns from it through its own
sync code, as it would from a real master.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from app.security import READ, blob_token, sign_url
from app.server.connection import FAST_PATH, FastRequest
from tests.support.apps import make_client
from tests.support.full_disk import LONG_NAME, create_with_small_pages, no_room
from tests.support.node_temp import stray_temp_files
from tests.support.stub_http import QuietHandler, stub_server

KEY = "open-mode-key-" + "k" * 32
SECRET_BODY = b"alice's private bytes\n"
SECRET = hashlib.sha256(SECRET_BODY).hexdigest()
ABSENT = "0" * 64


class StubMaster(QuietHandler):
    """Answers a node's reports like a master, and ``/retrieve`` like a peer node that
    serves ``SECRET_BODY`` only with a token."""

    heartbeat_nodes: list[str] = []
    listed: list[str] = []  # GET /nodes
    private: list[str] = []  # the inventory answer's
    reads: list[dict[str, list[str]]] = []

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cluster = {"nodes": StubMaster.heartbeat_nodes, "signing_key": KEY}
        if self.path == "/nodes/heartbeat":
            self.send_json({"node": payload["node"], "delete": [], **cluster})
        elif self.path == "/nodes/inventory":
            answer = {"sync_started": 1.0, "drop": [], "private": StubMaster.private}
            self.send_json({**answer, **cluster})
        elif self.path == "/nodes/register":
            results = [{"hash": c["hash"], "replicate_to": []} for c in payload["copies"]]
            self.send_json({"node": payload["node"], "results": results})
        else:
            self.send_json({"error": {"code": "not_found", "message": self.path}}, 404)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/nodes":
            self.send_json([{"id": str(i), "url": u} for i, u in enumerate(StubMaster.listed)])
            return
        query = parse_qs(url.query)
        StubMaster.reads.append(query)
        if url.path == "/retrieve" and query.get("token"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(SECRET_BODY)))
            self.end_headers()
            self.wfile.write(SECRET_BODY)
            return
        self.send_json({"error": {"code": "blob_not_found", "message": "no"}}, 404)


@pytest.fixture
def master_url() -> Iterator[str]:
    with stub_server(StubMaster) as url:
        StubMaster.heartbeat_nodes = [url]
        StubMaster.listed = [url]
        StubMaster.private = []
        StubMaster.reads = []
        yield url


@pytest.fixture
def app(make_node_app, master_url):
    return make_node_app(MASTER=master_url)


def beat(app) -> None:
    """One heartbeat, as the node's sync loop sends it: the node learns the key and list."""
    app.extensions["mdbx.node"].sync.beat()


def fast(app, target: str):
    response = app.extensions[FAST_PATH].handler(FastRequest(b"GET", target.encode(), {}))
    if response is not None:
        os.close(response.fd)
    return response


def store_private(app, body: bytes = SECRET_BODY) -> None:
    """What a master's write of per-user content does: a private copy it registers itself."""
    stored = make_client(app).put("/upload?name=s.txt&register=0&replicate=0&private=1", data=body)
    assert stored.status_code == 200, stored.json


def error(response) -> tuple[int, str]:
    return response.status_code, response.json["error"]["code"]


def test_a_private_copy_is_served_only_through_a_signed_url_and_else_looks_absent(app):
    store_private(app)
    beat(app)
    client = make_client(app)
    hidden = client.get(f"/retrieve?hash={SECRET}")
    absent = client.get(f"/retrieve?hash={ABSENT}")
    assert error(hidden) == error(absent) == (404, "blob_not_found")
    assert hidden.json["error"]["message"] == absent.json["error"]["message"].replace(
        ABSENT, SECRET
    )
    assert fast(app, f"/retrieve?hash={SECRET}") is None  # the view answers the 404
    signed = sign_url(f"/retrieve?hash={SECRET}", KEY, READ, SECRET, 60)
    assert client.get(signed).data == SECRET_BODY
    assert fast(app, signed) is not None
    # A token must be the master's, whatever it names: no answer tells a private blob
    # from an absent one, with a token or without.
    for digest in (SECRET, ABSENT):
        for token in ("garbage", blob_token("another key " * 3, READ, digest, 60)):
            forged = f"/retrieve?hash={digest}&token={token}"
            assert error(client.get(forged)) == (403, "invalid_token")
            assert fast(app, forged) is None
    expired = sign_url(f"/retrieve?hash={SECRET}", KEY, READ, SECRET, -1)
    assert error(client.get(expired)) == (403, "invalid_token")


def test_a_public_upload_of_the_same_bytes_makes_the_copy_public(app):
    store_private(app)
    assert make_client(app).get(f"/retrieve?hash={SECRET}").status_code == 404
    public = make_client(app).put("/upload?name=mine.txt&register=0", data=SECRET_BODY)
    assert public.json["deduplicated"] is True
    assert make_client(app).get(f"/retrieve?hash={SECRET}").data == SECRET_BODY
    assert fast(app, f"/retrieve?hash={SECRET}") is not None
    store_private(app)  # and a private write of public bytes leaves them public
    assert make_client(app).get(f"/retrieve?hash={SECRET}").status_code == 200


def test_before_it_heard_the_key_a_node_cannot_check_tokens(app):
    store_private(app)
    signed = sign_url(f"/retrieve?hash={SECRET}", KEY, READ, SECRET, 60)
    assert error(make_client(app).get(signed)) == (503, "signing_key_unknown")
    assert fast(app, signed) is None


def test_the_key_and_the_node_list_are_shared_by_every_worker(make_node_app, app):
    store_private(app)
    beat(app)
    # A second app on the same data directory is another worker of the node.
    sibling = make_node_app(MASTER=app.config["MASTER"])
    assert make_client(sibling).get(f"/retrieve?hash={SECRET}").status_code == 404
    signed = sign_url(f"/retrieve?hash={SECRET}", KEY, READ, SECRET, 60)
    assert make_client(sibling).get(signed).data == SECRET_BODY


def test_the_inventory_answer_hides_the_copies_the_master_holds_private(app):
    # A catalogue rebuilt from the disk (or from before #17) has the copy public.
    make_client(app).put("/upload?name=s.txt&register=0", data=SECRET_BODY)
    assert make_client(app).get(f"/retrieve?hash={SECRET}").status_code == 200
    StubMaster.private = [SECRET]
    app.extensions["mdbx.node"].sync.full_sync()
    assert error(make_client(app).get(f"/retrieve?hash={SECRET}")) == (404, "blob_not_found")


def test_a_repair_copy_of_a_private_copy_is_pulled_with_the_token_and_stays_private(
    app, master_url
):
    beat(app)
    token = blob_token(KEY, READ, SECRET, 60)
    pulled = make_client(app).post(
        "/replicate",
        json={"hash": SECRET, "source": master_url, "private": True, "token": token},
    )
    assert pulled.status_code == 200, pulled.json
    assert StubMaster.reads[-1]["token"] == [token]
    assert error(make_client(app).get(f"/retrieve?hash={SECRET}")) == (404, "blob_not_found")
    assert fast(app, f"/retrieve?hash={SECRET}") is None


@pytest.mark.parametrize("suffix", ["/retrieve", "/x/", "/?hash=x", "?a=b", "#top", "@evil"])
def test_a_source_or_chain_with_anything_but_a_listed_base_url_is_refused(app, master_url, suffix):
    beat(app)
    refused = f"{master_url}{suffix}"
    client = make_client(app)
    pulled = client.post("/replicate", json={"hash": SECRET, "source": refused})
    assert error(pulled) == (400, "invalid_field") and pulled.json["error"]["field"] == "source"
    stored = client.put("/upload", query_string={"chain": refused}, data=b"forwarded nowhere")
    assert error(stored) == (400, "invalid_field") and stored.json["error"]["field"] == "chain"
    assert StubMaster.reads == []  # nothing was fetched


def test_an_unknown_host_is_refused_before_the_body_is_kept(app, tmp_path):
    beat(app)
    body = b"to an unknown host"
    target = "/upload?chain=http://169.254.169.254:80"
    via_flask = make_client(app).put(target, data=body)
    assert error(via_flask) == (400, "invalid_field")
    fast_path = app.extensions[FAST_PATH]
    answer = fast_path.handler(FastRequest(b"PUT", target.encode(), {}, body))
    assert answer is not None and (answer.status, json.loads(answer.body)) == (
        400,
        via_flask.json,
    )
    assert (
        make_client(app).get(f"/retrieve?hash={hashlib.sha256(body).hexdigest()}").status_code
        == 404
    )
    assert stray_temp_files(tmp_path / "node") == []
    pulled = make_client(app).post(
        "/replicate", json={"hash": SECRET, "source": "http://127.0.0.1:1"}
    )
    assert error(pulled) == (400, "invalid_field")


def test_a_listed_node_is_forwarded_to_and_a_new_one_is_asked_of_the_master(app, master_url):
    beat(app)
    # Listed by the heartbeat: taken (the forward itself fails, as the stand-in is no node).
    listed = make_client(app).put(f"/upload?chain={master_url}/", data=b"chained")
    assert listed.status_code == 200 and listed.json["replicas"] == [app.config["NODE_ID"]]
    # A node the master added since the last heartbeat: the node asks GET /nodes once.
    newcomer = "http://127.0.0.1:1"
    StubMaster.listed = [master_url, newcomer]
    joined = make_client(app).put(f"/upload?chain={newcomer}", data=b"to the newcomer")
    assert joined.status_code == 200


def test_a_node_that_never_heard_a_list_forwards_to_no_one(make_node_app, dead_url):
    app = make_node_app(MASTER=dead_url)  # its master is down
    refused = make_client(app).put(f"/upload?chain={dead_url}", data=b"x")
    assert error(refused) == (400, "invalid_field")
    assert "not a node the master lists" in refused.json["error"]["message"]


def test_a_private_copy_the_catalogue_has_no_room_for_is_refused_and_not_kept(
    make_node_app, master_url, tmp_path
):
    create_with_small_pages(tmp_path / "node" / "catalog.db")
    app = make_node_app(MASTER=master_url)
    catalog = app.extensions["mdbx.node"].catalog
    with no_room(catalog.engine):
        refused = make_client(app).put(
            "/upload",
            query_string={"name": LONG_NAME, "register": "0", "private": "1"},
            data=SECRET_BODY,
        )
        # Without its row it would be served to anyone: 507, as for a full disk.
        assert error(refused) == (507, "insufficient_storage")
    assert not (tmp_path / "node" / "blobs" / SECRET[:2] / SECRET[2:4] / SECRET).exists()
    assert stray_temp_files(tmp_path / "node") == []
    assert make_client(app).get(f"/retrieve?hash={SECRET}").status_code == 404
