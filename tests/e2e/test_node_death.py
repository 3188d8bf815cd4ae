"""No failed read while a replica lives (#20): a node killed with ``kill -9`` is known
down at once (its stream to the master breaks), reads through the master go around it
from the first second, and a master restart marks nothing down for long.

Real processes, default NODE_TIMEOUT (15 s): without the stream the master would go on
sending reads to the dead node for 15 s. ``pytest -s`` prints the figures.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable

import requests

from localcluster.launcher import Cluster, Role, wait_until
from tests.support.api import get_json, locations, node_id, upload

TIMEOUT = 10
# Files larger than a block are manifests: /download sends them to a node's /file.
BLOCK_SIZE = 64 * 1024
ENV = {"MDBX_BLOCK_SIZE": str(BLOCK_SIZE), "MDBX_GRACEFUL_TIMEOUT": "2"}
READ_SECONDS = 6.0  # reads go on this long after the kill (and at least MIN_READS of them)
MIN_READS = 30
DOWN_WITHIN = 2.0  # seconds from the kill to "down" in /nodes


def node_states(master: Role) -> dict[str, str]:
    return {n["id"]: n["state"] for n in get_json(master.url, "/nodes")}


class Reads:
    """Reads of known files through the master, counted by kind, failures kept."""

    def __init__(self, master: Role, public: dict[str, bytes], private: dict[str, bytes]):
        self.master = master.url
        self.public = public
        self.private = private
        token = requests.post(
            f"{self.master}/api/login",
            json={"username": "reader", "password": "pw-reader-123"},
            timeout=TIMEOUT,
        ).json()["token"]
        self.user = {"Authorization": f"Bearer {token}"}
        self.attempted = 0
        self.failed: list[str] = []

    def one_round(self, started: float) -> None:
        """One read of each kind: /download followed, /download?proxy=1, /api/files."""
        digest = random.choice(list(self.public))
        path = random.choice(list(self.private))
        for kind, call, expected in (
            ("download", lambda: self._get("/download", params={"hash": digest}), digest),
            (
                "proxy",
                lambda: self._get("/download", params={"hash": digest, "proxy": "1"}),
                digest,
            ),
            ("api", lambda: self._get(f"/api/files{path}", headers=self.user), path),
        ):
            self.attempted += 1
            at = time.monotonic() - started
            try:
                response = call()
                wanted = self.public[digest] if kind != "api" else self.private[path]
                if response.status_code != 200 or response.content != wanted:
                    self.failed.append(f"{at:.2f}s {kind} {expected}: {response.status_code}")
            except requests.RequestException as exc:
                self.failed.append(f"{at:.2f}s {kind} {expected}: {type(exc).__name__}")

    def _get(self, path: str, **kwargs) -> requests.Response:
        # requests follows the 302 to a node, as curl -L does.
        return requests.get(f"{self.master}{path}", timeout=TIMEOUT, **kwargs)


def stored_files(cluster: Cluster) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """20 public files through /upload (some of several blocks) and 6 of a user's."""
    master = cluster.master.url
    rng = random.Random(20)
    public: dict[str, bytes] = {}
    for i in range(20):
        payload = rng.randbytes(rng.choice([10, 3_000, 40_000, 150_000, 300_000]) + i)
        body = upload(master, payload, f"file-{i}.bin")
        assert body["hash"] == hashlib.sha256(payload).hexdigest()
        public[body["hash"]] = payload
    reply = requests.post(
        f"{master}/api/admin/users",
        json={"username": "reader", "password": "pw-reader-123"},
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200, reply.text
    token = requests.post(
        f"{master}/api/login",
        json={"username": "reader", "password": "pw-reader-123"},
        timeout=TIMEOUT,
    ).json()["token"]
    private: dict[str, bytes] = {}
    for i in range(6):
        payload = rng.randbytes(rng.choice([500, 90_000, 200_000]) + i)
        put = requests.put(
            f"{master}/api/files/docs/f{i}.bin",
            data=payload,
            headers={"Authorization": f"Bearer {token}"},
            timeout=TIMEOUT,
        )
        assert put.status_code == 200, put.text
        private[f"/docs/f{i}.bin"] = payload
    return public, private


def watch_state(master: Role, node: Role, wanted: str, deadline: float) -> Callable[[], float]:
    """Poll /nodes every 50 ms in a thread; the returned call gives the seconds until the
    node was first ``wanted`` (inf if not within ``deadline``)."""
    started = time.monotonic()
    seen: list[float] = []

    def poll() -> None:
        while time.monotonic() - started < deadline:
            try:
                if node_states(master).get(node_id(node)) == wanted:
                    seen.append(time.monotonic() - started)
                    return
            except (requests.RequestException, AssertionError):
                pass
            time.sleep(0.05)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()

    def result() -> float:
        thread.join(timeout=deadline + 5)
        return seen[0] if seen else float("inf")

    return result


def read_for(reads: Reads, seconds: float, started: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end or reads.attempted < MIN_READS:
        reads.one_round(started)
        if reads.attempted > 10 * MIN_READS + 1000:  # bounded, whatever the pace
            break


def test_reads_after_kill_9_of_a_node_all_succeed_and_it_is_down_at_once(spawn):
    cluster = spawn(nodes=3, env=ENV)
    master = cluster.master
    public, private = stored_files(cluster)
    reads = Reads(master, public, private)
    read_for(reads, 0, time.monotonic())
    assert reads.failed == [], reads.failed
    victim = max(
        cluster.nodes, key=lambda n: sum(node_id(n) in locations(master, d) for d in public)
    )

    reads = Reads(master, public, private)
    killed = time.monotonic()
    down_after = watch_state(master, victim, "down", deadline=30)
    victim.kill()
    read_for(reads, READ_SECONDS, killed)
    read_seconds = time.monotonic() - killed
    down_in = down_after()
    by_kind = {k: sum(f" {k} " in f for f in reads.failed) for k in ("download", "proxy", "api")}
    print(
        f"\n[figures] 3 nodes, R=2, default NODE_TIMEOUT: after kill -9 of one node,"
        f" {len(reads.failed)} of {reads.attempted} reads through the master failed in the"
        f" first {read_seconds:.1f}s (by kind {by_kind}); /nodes said down {down_in:.2f}s"
        f" after the kill\n  failures: {reads.failed[:6]}"
    )
    assert reads.attempted >= MIN_READS
    assert reads.failed == []
    assert down_in <= DOWN_WITHIN

    up_after = watch_state(master, victim, "up", deadline=30)
    victim.start()
    up_in = up_after()
    print(f"  restarted node up again {up_in:.2f}s after its start began")
    assert up_in < 15
    assert set(node_states(master).values()) == {"up"}


def test_after_a_master_restart_reads_succeed_and_every_node_is_up(spawn):
    # The default GRACEFUL_TIMEOUT: the nodes' streams must not hold the stop that long.
    cluster = spawn(nodes=3, env={**ENV, "MDBX_GRACEFUL_TIMEOUT": "5"})
    master = cluster.master
    public, private = stored_files(cluster)
    restarted = time.monotonic()
    assert master.stop() == 0
    stopped_in = time.monotonic() - restarted
    master.start()  # waits for /health
    ready_in = time.monotonic() - restarted
    # Nothing was marked down by the restart: the nodes were up in the database, and
    # their streams reopen at once.
    states_at_start = node_states(master)
    all_up = wait_until(
        lambda: set(node_states(master).values()) == {"up"} and time.monotonic(), deadline=10
    )
    reads = Reads(master, public, private)
    read_for(reads, 2.0, time.monotonic())
    print(
        f"\n[figures] master restart: stopped {stopped_in:.2f}s after SIGTERM (3 node"
        f" streams open), ready {ready_in:.2f}s; nodes {states_at_start} at once, all up"
        f" {all_up - restarted:.2f}s after SIGTERM; {len(reads.failed)} of"
        f" {reads.attempted} reads failed afterwards"
    )
    assert stopped_in < 3.0
    assert set(states_at_start.values()) == {"up"} and len(states_at_start) == 3
    assert reads.failed == []
    for digest in list(public)[:5]:
        assert set(locations(master, digest).values()) == {"up"}
