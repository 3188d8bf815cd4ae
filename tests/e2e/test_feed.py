"""The change feed and the batch write on real gunicorn processes: a long poll answers
within a second of a change made through another worker process or another master;
a batch of small files is durable on R nodes when answered, each file's error its own."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.client.account_client import AccountClient
from app.client.api import Client
from app.client.errors import ClientError
from localcluster.launcher import Cluster
from tests.support.api import blob_path
from tests.support.postgres import postgres_schema

TIMEOUT = 30
# Long polls in flight at once: enough that both of a master's worker processes hold some.
WAITERS = 12


def login(master: str) -> requests.Session:
    """A session of a new user of ``master`` (open mode: loopback may add users)."""
    name, password = f"feed-{uuid.uuid4().hex[:8]}", "pw-feed-123"
    added = requests.post(
        f"{master}/api/admin/users",
        json={"username": name, "password": password},
        timeout=TIMEOUT,
    )
    assert added.status_code == 200, added.text
    http = requests.Session()
    token = http.post(
        f"{master}/api/login", json={"username": name, "password": password}, timeout=TIMEOUT
    ).json()["token"]
    http.headers["Authorization"] = f"Bearer {token}"
    return http


def wait_answer(master: str, token: str, cursor: str, timeout: int) -> tuple[bool, float]:
    """Long-poll on a connection of its own; the answer and when it came."""
    with requests.Session() as http:
        reply = http.get(
            f"{master}/api/changes/wait",
            params={"cursor": cursor, "timeout": timeout},
            headers={"Authorization": token},
            timeout=timeout + TIMEOUT,
        )
    assert reply.status_code == 200, reply.text
    return reply.json()["changes"], time.monotonic()


def long_polls_see(writer: requests.Session, waiter_url: str, writer_url: str, token: str) -> None:
    """Start WAITERS long polls on ``waiter_url``, make a folder through ``writer_url``:
    each one answers true within a second of it."""
    cursor = writer.get(f"{writer_url}/api/changes/latest", timeout=TIMEOUT).json()["cursor"]
    with ThreadPoolExecutor(WAITERS) as pool:
        waits = [pool.submit(wait_answer, waiter_url, token, cursor, 20) for _ in range(WAITERS)]
        time.sleep(0.5)  # bounded: the polls are waiting by now (if not, they answer at once)
        assert not any(wait.done() for wait in waits)
        made = writer.post(f"{writer_url}/api/mkdir", json={"path": "/new"}, timeout=TIMEOUT)
        assert made.status_code == 200, made.text
        written = time.monotonic()
        answers = [wait.result(timeout=TIMEOUT) for wait in waits]
    assert all(found for found, _ in answers)
    assert max(at for _, at in answers) - written < 1.0
    page = writer.get(f"{writer_url}/api/changes", params={"cursor": cursor}, timeout=TIMEOUT)
    assert [c["path"] for c in page.json()["changes"]] == ["/new"]


def test_long_polls_answer_a_change_through_another_worker(cluster: Cluster):
    master = cluster.master.url
    http = login(master)
    token = http.headers["Authorization"]
    cursor = http.get(f"{master}/api/changes/latest", timeout=TIMEOUT).json()["cursor"]
    began = time.monotonic()
    assert wait_answer(master, token, cursor, 1)[0] is False
    assert 1.0 <= time.monotonic() - began < 3.0
    long_polls_see(http, master, master, token)


@pytest.mark.postgres
def test_long_polls_answer_a_change_through_another_master(spawn):
    with postgres_schema() as database:
        cluster = spawn(nodes=0, start=False, env={"MDBX_METADATA_URL": database})
        cluster.add_master()
        cluster.start(nodes=0)
        first, second = (master.url for master in cluster.masters)
        http = login(first)
        long_polls_see(http, second, first, http.headers["Authorization"])


def test_a_batch_is_durable_on_r_nodes_when_answered(cluster: Cluster):
    master = cluster.master.url
    http = login(master)
    account = AccountClient(Client(master, token=http.headers["Authorization"].split()[1]))
    files = [(f"d{n % 3}/f{n}.txt", f"small file {n}".encode()) for n in range(50)]
    files += [("big.bin", b"b" * (4 * 1024 * 1024 + 1)), ("../out", b"x")]
    results = account.put_batch("/batch", files)
    assert [r.get("error", {}).get("code") for r in results[-2:]] == ["too_large", "invalid_path"]
    for (relpath, data), result in zip(files[:50], results[:50], strict=True):
        digest = hashlib.sha256(data).hexdigest()
        assert result == {
            "path": f"/batch/{relpath}",
            "size": len(data),
            "hash": digest,
            "version": 1,
        }
        # Both copies are on the nodes' disks before the answer.
        assert all(blob_path(node, digest).is_file() for node in cluster.nodes)
    back = http.get(f"{master}/api/files/batch/d1/f1.txt", timeout=TIMEOUT)
    assert back.status_code == 200 and back.content == b"small file 1"
    tree = http.get(f"{master}/api/tree", params={"path": "/batch"}, timeout=TIMEOUT).json()
    assert len(tree["entries"]) == 53  # three folders, fifty files
    with pytest.raises(ClientError) as caught:
        account.put_batch("/batch", [(f"g{n}", b"") for n in range(1001)])
    assert (caught.value.status, caught.value.code) == (413, "payload_too_large")
    limited = requests.patch(
        f"{master}/api/admin/users/{account.account()['name']}",
        json={"quota_bytes": account.account()["used_bytes"] + 10},
        timeout=TIMEOUT,
    )
    assert limited.status_code == 200, limited.text
    quota = account.put_batch("/q", [("fits", b"0123456789"), ("over", b"!")])
    assert "error" not in quota[0] and quota[1]["error"]["code"] == "quota_exceeded"


def test_a_batch_answered_survives_kill_9_of_its_nodes(spawn):
    """Each node gets the batch in one ``POST /blobs`` (one sync for all its blobs); once
    the master answered, SIGKILL of both nodes loses no file (#21)."""
    cluster = spawn(nodes=2)
    cluster.wait_nodes_up()
    master = cluster.master.url
    http = login(master)
    account = AccountClient(Client(master, token=http.headers["Authorization"].split()[1]))
    files = [(f"k/f{n}.bin", os.urandom(1024 * (1 + n % 8))) for n in range(300)]
    results = account.put_batch("/durable", files)
    assert all("error" not in result for result in results), results[:3]
    for node in cluster.nodes:
        node.kill()
    for node in cluster.nodes:
        node.start(wait=False)
    for node in cluster.nodes:
        node.wait_ready()
    for relpath, data in files:
        digest = hashlib.sha256(data).hexdigest()
        for node in cluster.nodes:
            assert blob_path(node, digest).read_bytes() == data
            # Still private after the restart: no read without the master's token.
            unsigned = requests.get(
                f"{node.url}/retrieve", params={"hash": digest}, timeout=TIMEOUT
            )
            assert unsigned.status_code == 404
        back = http.get(f"{master}/api/files/durable/{relpath}", timeout=TIMEOUT)
        assert back.status_code == 200 and back.content == data
