"""The change feed on real gunicorn masters: a long poll answers within a second of a
change made through another worker process or another master, and holds nothing
while it waits."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from localcluster.launcher import Cluster
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
