"""A user's large file read straight from the nodes (#21), on real gunicorn processes in
open and in secured mode: ``GET /api/blockmap/PATH`` signs each block's copies for its
owner alone, a URL opens its one blob for a few minutes, and the client reads the blocks
in parallel, from the other copy when a node hangs or is gone, else through the master."""

from __future__ import annotations

import functools
import os
import signal
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app.client.account_client import AccountClient
from app.client.api import Client
from app.client.block_reads import read_blocks, write_blocks
from app.client.errors import ClientError
from app.errors import error_code_of
from app.master.reads import BLOCK_URL_TTL
from app.security import READ, blob_token, check_blob_token
from localcluster.launcher import Cluster, free_port
from tests.e2e.test_privacy import SECRET, Mode, blocks_of, put, sha

TIMEOUT = 60
BLOCK = 64 * 1024
# Over the 4 MiB the client reads through the master's stream: 81 blocks of 64 KiB.
LARGE = 5 * 1024 * 1024 + 13


@pytest.fixture(scope="module", params=["open", "secured"])
def mode(request, tmp_path_factory):
    secured = request.param == "secured"
    env = {"MDBX_BLOCK_SIZE": str(BLOCK), **({"MDBX_CLUSTER_SECRET": SECRET} if secured else {})}
    cluster = Cluster(tmp_path_factory.mktemp(request.param), env=env).start(nodes=2)
    yield Mode(cluster, secured)
    cluster.stop()


def account_of(session: requests.Session, master: str) -> AccountClient:
    token = session.headers["Authorization"].removeprefix("Bearer ")
    return AccountClient(Client(master, token))


def block_map(session: requests.Session, master: str, path: str, **params) -> requests.Response:
    return session.get(f"{master}/api/blockmap{path}", params=params, timeout=TIMEOUT)


def test_the_block_map_signs_each_copy_for_its_owner_alone(mode):
    alice, bob = mode.user("alice"), mode.user("bob")
    data = os.urandom(5 * BLOCK + 13)
    put(alice, mode.master, "/docs/big.bin", data)
    answer = block_map(alice, mode.master, "/docs/big.bin").json()
    parts = blocks_of(data)
    assert (answer["name"], answer["size"], answer["hash"]) == ("big.bin", len(data), sha(data))
    assert [block["hash"] for block in answer["blocks"]] == [sha(part) for part in parts]
    assert [block["offset"] for block in answer["blocks"]] == list(range(0, len(data), BLOCK))
    for block, part in zip(answer["blocks"], parts, strict=True):
        assert len(block["urls"]) == 2 and block["size"] == len(part)  # R = 2, both live
        for url in block["urls"]:
            got = requests.get(url, timeout=TIMEOUT)
            assert got.status_code == 200 and got.content == part
    # Someone else's tree has nothing there; a version is mapped as /api/files reads it.
    assert block_map(bob, mode.master, "/docs/big.bin").status_code == 404
    put(alice, mode.master, "/docs/big.bin", b"short now")
    assert block_map(alice, mode.master, "/docs/big.bin").json()["size"] == 9
    old = block_map(alice, mode.master, "/docs/big.bin", version=1).json()
    assert old["hash"] == sha(data) and len(old["blocks"]) == len(parts)
    assert block_map(alice, mode.master, "/docs").json()["error"]["code"] == "is_a_directory"


def test_a_signed_url_opens_its_one_blob_for_a_few_minutes(mode):
    alice = mode.user("carol")
    data = os.urandom(3 * BLOCK)
    put(alice, mode.master, "/big.bin", data)
    first, second = block_map(alice, mode.master, "/big.bin").json()["blocks"][:2]
    url = first["urls"][0]
    token = parse_qs(urlsplit(url).query)["token"][0]
    refused = [
        url.replace(first["hash"], second["hash"]),  # another blob, this blob's token
        url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"),  # a signature altered
        url.split("&token=")[0],  # none at all: a private copy is as if absent
    ]
    answers = [requests.get(each, timeout=TIMEOUT) for each in refused]
    assert [(a.status_code, error_code_of(a)) for a in answers[:2]] == [
        (403, "invalid_token"),
        (403, "invalid_token"),
    ]
    assert answers[2].status_code == (401 if mode.secured else 404)
    if mode.secured:  # the open mode's key never leaves the cluster
        assert check_blob_token(SECRET, token, READ, first["hash"])
        later = time.time() + BLOCK_URL_TTL + 1
        assert not check_blob_token(SECRET, token, READ, first["hash"], now=later)
        expired = blob_token(SECRET, READ, first["hash"], -5)
        stale = requests.get(url.split("&token=")[0] + f"&token={expired}", timeout=TIMEOUT)
        assert stale.status_code == 403 and error_code_of(stale) == "invalid_token"


def test_a_large_file_comes_from_the_nodes_in_parallel_blocks(mode, tmp_path):
    alice = mode.user("dave")
    account = account_of(alice, mode.master)
    data = os.urandom(LARGE)
    (tmp_path / "source.bin").write_bytes(data)
    account.upload(tmp_path / "source.bin", "/big.bin")
    entry = account.download("/big.bin", tmp_path / "got.bin", parallel=4)
    assert entry["hash"] == sha(data) and (tmp_path / "got.bin").read_bytes() == data
    # Every block from a node: none was left to the master.
    answer = block_map(alice, mode.master, "/big.bin").json()
    fd = os.open(tmp_path / "direct.bin", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.ftruncate(fd, LARGE)
        assert read_blocks(answer["blocks"], fd, 4) == []
    finally:
        os.close(fd)
    assert (tmp_path / "direct.bin").read_bytes() == data
    assert not list(tmp_path.glob(".*.part"))


def test_blocks_no_node_sends_come_through_the_master(mode, tmp_path):
    alice = mode.user("erin")
    account = account_of(alice, mode.master)
    data = os.urandom(LARGE)
    (tmp_path / "source.bin").write_bytes(data)
    account.upload(tmp_path / "source.bin", "/big.bin")
    answer = block_map(alice, mode.master, "/big.bin").json()
    dead = f"http://127.0.0.1:{free_port()}"
    for index, block in enumerate(answer["blocks"]):
        # Half the blocks have a garbled signature, the others a node that is not there.
        block["urls"] = (
            [url + "x" for url in block["urls"]]
            if index % 2
            else [dead + url[url.index("/retrieve") :] for url in block["urls"]]
        )
    read_range = functools.partial(account.read_range, "/big.bin")
    write_blocks(answer, tmp_path / "got.bin", 4, None, read_range)
    assert (tmp_path / "got.bin").read_bytes() == data
    # A file changed under the map is refused, and nothing is left behind.
    put(alice, mode.master, "/big.bin", os.urandom(LARGE))
    with pytest.raises(ClientError, match="could not be read, or the file changed"):
        write_blocks(answer, tmp_path / "stale.bin", 4, None, read_range)
    assert not (tmp_path / "stale.bin").exists() and not list(tmp_path.glob(".*.part"))


def test_a_hung_node_or_a_dead_one_leaves_the_other_copy(spawn, tmp_path):
    cluster = spawn(nodes=2, env={"MDBX_BLOCK_SIZE": str(BLOCK)})
    mode = Mode(cluster, secured=False)
    alice = mode.user("frank")
    account = account_of(alice, mode.master)
    data = os.urandom(LARGE)
    (tmp_path / "source.bin").write_bytes(data)
    account.upload(tmp_path / "source.bin", "/big.bin")
    hung, other = cluster.nodes
    # Stopped, not dead: the master still lists it, and it accepts connections it never
    # answers. Each thread waits for it once, then reads the other copy.
    hung.signal(signal.SIGSTOP)
    try:
        began = time.monotonic()
        account.download("/big.bin", tmp_path / "got.bin", parallel=4)
        assert time.monotonic() - began < 30
    finally:
        hung.signal(signal.SIGCONT)
    assert (tmp_path / "got.bin").read_bytes() == data
    hung.kill()
    account.download("/big.bin", tmp_path / "again.bin", parallel=4)
    assert (tmp_path / "again.bin").read_bytes() == data
