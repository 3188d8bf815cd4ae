"""Knowing a hash grants nothing (#17), on real gunicorn processes, in open mode and in
secured mode: content stored through the per-user API is read from nodes only through
the master, announcing it uploads nothing, ``/register`` cannot touch it, and nodes fetch
from and forward to only the nodes the master lists."""

from __future__ import annotations

import hashlib
import os

import pytest
import requests

from app.errors import error_code_of
from app.security import CLUSTER_HEADER
from localcluster.launcher import Cluster, wait_until
from tests.support.api import blob_path

TIMEOUT = 60
BLOCK = 64 * 1024
SECRET = "e2e-privacy-secret-" + "0123456789abcdef"
ABSENT = "0" * 64
FAST_REPAIR = {
    "MDBX_BLOCK_SIZE": str(BLOCK),
    "MDBX_SYNC_INTERVAL": "0.3",
    "MDBX_NODE_TIMEOUT": "2",
    "MDBX_REPAIR_GRACE": "1",
    "MDBX_REPAIR_INTERVAL": "0.5",
    "MDBX_SCRUB_INTERVAL": "3600",
    "MDBX_GRACEFUL_TIMEOUT": "1",
}


class Mode:
    """A cluster, and how a client of its global API (an operator) and an admin call it."""

    def __init__(self, cluster: Cluster, secured: bool) -> None:
        self.cluster = cluster
        self.secured = secured
        self.master = cluster.master.url
        self.operator = {CLUSTER_HEADER: SECRET} if secured else {}

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {**self.operator, **kwargs.pop("headers", {})}
        return requests.request(
            method, f"{self.master}{path}", headers=headers, timeout=TIMEOUT, **kwargs
        )

    def user(self, name: str) -> requests.Session:
        password = f"pw-{name}-123"
        added = self.call("POST", "/api/admin/users", json={"username": name, "password": password})
        assert added.status_code == 200, added.text
        login = {"username": name, "password": password}
        token = requests.post(f"{self.master}/api/login", json=login, timeout=TIMEOUT).json()
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token['token']}"
        return session


@pytest.fixture(scope="module", params=["open", "secured"])
def mode(request, tmp_path_factory):
    secured = request.param == "secured"
    env = {"MDBX_BLOCK_SIZE": str(BLOCK)}
    if secured:
        env["MDBX_CLUSTER_SECRET"] = SECRET
    cluster = Cluster(tmp_path_factory.mktemp(request.param), env=env).start(nodes=2)
    yield Mode(cluster, secured)
    cluster.kill()


def blocks_of(payload: bytes) -> list[bytes]:
    return [payload[i : i + BLOCK] for i in range(0, len(payload), BLOCK)]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(session: requests.Session, master: str, path: str, data: bytes) -> dict:
    stored = session.put(f"{master}/api/files{path}", data=data, timeout=TIMEOUT)
    assert stored.status_code == 200, stored.text
    return stored.json()


def unsigned_read(node: str, endpoint: str, digest: str) -> tuple[int, str | None]:
    """The status and error code of a read without credentials (None: no error)."""
    reply = requests.get(f"{node}/{endpoint}", params={"hash": digest}, timeout=TIMEOUT)
    return reply.status_code, error_code_of(reply) if reply.status_code != 200 else None


def test_private_content_is_read_from_nodes_only_through_the_master(mode):
    alice = mode.user("alice")
    small, big = os.urandom(1000), os.urandom(3 * BLOCK - 7)
    put(alice, mode.master, "/small.bin", small)
    put(alice, mode.master, "/big.bin", big)
    blobs = [sha(small), *map(sha, blocks_of(big))]
    for node in mode.cluster.nodes:
        assert all(blob_path(node, digest).is_file() for digest in blobs)  # R = 2 of 2
        absent = unsigned_read(node.url, "retrieve", ABSENT)
        expected = (401, "missing_credentials") if mode.secured else absent
        for digest in blobs:
            # The fast path declines and the view answers as for a blob never stored.
            assert unsigned_read(node.url, "retrieve", digest) == expected
        assert unsigned_read(node.url, "file", sha(big))[0] in (401, 404)
    for digest in (sha(small), sha(big)):
        assert mode.call("GET", "/get", params={"hash": digest}).status_code == 404
        assert mode.call("GET", "/download", params={"hash": digest}).status_code == 404
    # The master reads the copies with its own tokens: for the owner, and for a link.
    assert alice.get(f"{mode.master}/api/files/big.bin", timeout=TIMEOUT).content == big
    link = alice.post(f"{mode.master}/api/shares", json={"path": "/small.bin"}, timeout=TIMEOUT)
    assert requests.get(link.json()["url"], timeout=TIMEOUT).content == small


def test_announcing_private_content_uploads_nothing_until_the_bytes_are_sent(mode):
    alice = mode.user("carol")
    small, big = os.urandom(2000), os.urandom(3 * BLOCK + 11)
    put(alice, mode.master, "/small.bin", small)
    put(alice, mode.master, "/big.bin", big)
    parts = blocks_of(big)
    plan = {
        "name": "got-it.bin",
        "size": len(big),
        "hash": sha(big),
        "block_size": BLOCK,
        "blocks": [sha(part) for part in parts],
    }
    # The "Dropship" attempt: the right hashes and size, not a byte sent.
    begun = mode.call("POST", "/uploads", json=plan)
    assert begun.status_code == 200, begun.text
    state = begun.json()
    assert state["complete"] is False
    assert sorted(m["hash"] for m in state["missing"]) == sorted(plan["blocks"])
    one = {**plan, "size": len(small), "hash": sha(small), "blocks": [sha(small)]}
    assert mode.call("POST", "/uploads", json=one).json()["complete"] is False
    refused = mode.call("POST", f"/uploads/{state['upload_id']}/commit")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "blocks_missing"
    # Whoever sends the bytes has them: the upload then completes, and the file is public.
    for missing in state["missing"]:
        sent = requests.put(missing["url"], data=parts[missing["indexes"][0]], timeout=TIMEOUT)
        assert sent.status_code == 200, sent.text
    committed = mode.call("POST", f"/uploads/{state['upload_id']}/commit")
    assert committed.status_code == 200, committed.text
    read = mode.call("GET", "/download", params={"hash": sha(big), "proxy": "1"})
    assert read.status_code == 200 and read.content == big
    assert alice.get(f"{mode.master}/api/files/big.bin", timeout=TIMEOUT).content == big


def test_register_cannot_rename_publish_or_add_replicas_to_private_content(mode):
    alice = mode.user("dave")
    payload, early = os.urandom(500), os.urandom(600)
    # A record claimed (the reference's /register needs no bytes) before the content came.
    holders = [str(node.port) for node in mode.cluster.nodes]
    claim = {"hash": sha(early), "name": "claimed.txt", "size": 600, "replicas": holders}
    assert mode.call("POST", "/register", json=claim).status_code == 200
    put(alice, mode.master, "/early.bin", early)
    for proxy in ("0", "1"):
        read = mode.call("GET", "/download", params={"hash": sha(early), "proxy": proxy})
        assert read.status_code == 503 and read.content != early  # no public copy to read
    assert alice.get(f"{mode.master}/api/files/early.bin", timeout=TIMEOUT).content == early
    put(alice, mode.master, "/notes.bin", payload)
    claim = {"hash": sha(payload), "name": "mine.txt", "size": 500, "replicas": ["9999"]}
    refused = mode.call("POST", "/register", json=claim)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "hash_taken"
    assert mode.call("GET", "/get", params={"hash": sha(payload)}).status_code == 404
    assert sha(payload) not in {f["hash"] for f in mode.call("GET", "/list").json()}
    assert alice.get(f"{mode.master}/api/files/notes.bin", timeout=TIMEOUT).content == payload


def test_the_reference_flow_still_reads_public_content_without_a_token(mode):
    if mode.secured:
        pytest.skip("secured mode reads only through signed URLs, public or not")
    alice = mode.user("erin")
    payload = b"Hello Mini-Dropbox, privately first!\n"
    put(alice, mode.master, "/hello.txt", payload)
    first, second = (node.url for node in mode.cluster.nodes)
    assert unsigned_read(first, "retrieve", sha(payload))[0] == 404
    # Someone uploads the same bytes to a node, as the README does: they are public now,
    # on that node and on the peer it copies them to.
    uploaded = requests.post(f"{first}/upload", files={"file": ("hello.txt", payload)}, timeout=60)
    assert uploaded.status_code == 200 and len(uploaded.json()["replicas"]) == 2
    for node in (first, second):
        got = requests.get(f"{node}/retrieve", params={"hash": sha(payload)}, timeout=TIMEOUT)
        assert got.status_code == 200 and got.content == payload
    hop = requests.get(
        f"{mode.master}/download", params={"hash": sha(payload)}, allow_redirects=False, timeout=60
    )
    assert hop.status_code == 302 and "token=" not in hop.headers["Location"]


def test_nodes_forward_to_and_fetch_from_only_the_nodes_the_master_lists(mode):
    first, second = (node.url for node in mode.cluster.nodes)
    headers = mode.operator
    body = b"chained bytes\n"
    for chain in ("http://127.0.0.1:9", f"{second}/retrieve", f"{second}?x=1"):
        refused = requests.put(
            f"{first}/upload",
            params={"chain": chain, "hash": sha(body)},
            data=body,
            headers=headers,
            timeout=TIMEOUT,
        )
        error = refused.json()["error"]
        assert (refused.status_code, error["code"], error["field"]) == (
            400,
            "invalid_field",
            "chain",
        )
    chained = requests.put(
        f"{first}/upload", params={"chain": second}, data=body, headers=headers, timeout=TIMEOUT
    )
    assert chained.status_code == 200 and len(chained.json()["replicas"]) == 2
    for source in ("http://127.0.0.1:9", f"{second}/retrieve?hash={sha(body)}#"):
        pulled = requests.post(
            f"{first}/replicate",
            json={"hash": sha(body), "source": source},
            headers=headers,
            timeout=TIMEOUT,
        )
        assert pulled.status_code == 400 and pulled.json()["error"]["field"] == "source"


def test_private_copies_stay_private_through_repair_and_a_lost_node_catalogue(spawn):
    cluster = spawn(nodes=3, env=FAST_REPAIR)
    mode = Mode(cluster, secured=False)
    alice = mode.user("frank")
    payload = os.urandom(3000)
    digest = sha(payload)
    put(alice, mode.master, "/photo.bin", payload)
    holders = [node for node in cluster.nodes if blob_path(node, digest).is_file()]
    (spare,) = [node for node in cluster.nodes if node not in holders]
    # A holder dies: repair copies the private copy to the spare, with a token.
    holders[0].kill()
    wait_until(lambda: blob_path(spare, digest).is_file(), deadline=30)
    assert unsigned_read(spare.url, "retrieve", digest) == (404, "blob_not_found")
    assert mode.call("GET", "/list").json() == []  # the repair copy published nothing
    assert alice.get(f"{mode.master}/api/files/photo.bin", timeout=TIMEOUT).content == payload
    # A node that lost its catalogue rebuilds it from its disk, every copy public at first;
    # its inventory's answer hides the private ones again.
    holders[1].kill()
    for suffix in ("", "-wal", "-shm"):
        (holders[1].data_dir / f"catalog.db{suffix}").unlink(missing_ok=True)
    holders[1].start()
    wait_until(
        lambda: unsigned_read(holders[1].url, "retrieve", digest) == (404, "blob_not_found"),
        deadline=20,
    )
    assert alice.get(f"{mode.master}/api/files/photo.bin", timeout=TIMEOUT).content == payload
