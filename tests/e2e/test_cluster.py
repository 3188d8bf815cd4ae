"""A replicated cluster (#4): placement, node loss, repair, trimming, deletes, write quorum.

Every role is a real gunicorn process; timings are shrunk through MDBX_* so that a node
is declared down after 2 s and repaired 1 s later. ``pytest -s`` prints the figures.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time

import requests

from localcluster.launcher import Cluster, Role, wait_until
from tests.support.api import blob_path, get_json, locations, node_id, upload

TIMEOUT = 30
NODE_TIMEOUT = 2.0
# A message a node sent just before it died may reach the master this much later.
IN_FLIGHT = 0.5
FAST = {
    "MDBX_SYNC_INTERVAL": "0.3",
    "MDBX_NODE_TIMEOUT": str(NODE_TIMEOUT),
    "MDBX_REPAIR_GRACE": "1",
    "MDBX_REPAIR_INTERVAL": "0.5",
    "MDBX_SCRUB_INTERVAL": "3600",
    "MDBX_GRACEFUL_TIMEOUT": "1",
}
KIB = 1024
SIZES = [0, 1, 100, 4 * KIB, 64 * KIB, 300 * KIB, 1024 * KIB]


def node_states(master: Role) -> dict[str, str]:
    return {n["id"]: n["state"] for n in get_json(master.url, "/nodes")}


def health(master: Role) -> dict:
    return get_json(master.url, "/cluster/health")


def proxy_download(master: Role, digest: str) -> requests.Response:
    return requests.get(
        f"{master.url}/download", params={"hash": digest, "proxy": "1"}, timeout=TIMEOUT
    )


def wait_nodes_up(master: Role, nodes: list[Role], deadline: float = 15) -> None:
    wanted = {node_id(n) for n in nodes}
    wait_until(lambda: {i for i, s in node_states(master).items() if s == "up"} >= wanted, deadline)


def payloads(count: int, seed: int) -> list[bytes]:
    """Random bytes of a mix of sizes up to 1 MiB, each distinct."""
    rng = random.Random(seed)
    sizes = [SIZES[i % len(SIZES)] + i for i in range(count)]
    rng.shuffle(sizes)
    return [rng.randbytes(size) for size in sizes]


def holders_on_disk(cluster: Cluster, digest: str) -> set[str]:
    return {node_id(n) for n in cluster.nodes if blob_path(n, digest).is_file()}


def is_restored(h: dict) -> bool:
    return h["nodes_down"] > 0 and h["under_replicated"] == 0 and h["degraded"] == 0


class HealthWatch:
    """Poll /cluster/health every 50 ms in a thread; remember when ``done`` first held.

    The test reads every file meanwhile: timing repair from the test's own loop would
    add the time those reads take.
    """

    def __init__(self, master: Role, done, deadline: float = 120) -> None:
        self.url = f"{master.url}/cluster/health"
        self.done = done
        self.end = time.monotonic() + deadline
        self.reached: float | None = None
        self.first_down: dict | None = None  # the first answer that counts a node down
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.05) and time.monotonic() < self.end:
            try:
                answer = requests.get(self.url, timeout=5).json()
                if self.first_down is None and answer["nodes_down"]:
                    self.first_down = answer
                if self.done(answer):
                    self.reached = time.monotonic()
                    return
            except requests.RequestException:
                continue

    def stop(self) -> float:
        """Return when the condition first held (it must have)."""
        self._thread.join(timeout=5)
        self._stop.set()
        assert self.reached is not None
        return self.reached


def test_a_node_lost_is_detected_its_files_still_read_repaired_then_trimmed(spawn):
    cluster = spawn(nodes=3, env=FAST)
    master = cluster.master
    wait_nodes_up(master, cluster.nodes)

    stored: dict[str, bytes] = {}
    total = 0
    for i, payload in enumerate(payloads(50, seed=4)):
        total += len(payload)
        body = upload(master.url, payload, f"file-{i}.bin")
        assert body["hash"] == hashlib.sha256(payload).hexdigest()
        assert body["copies"] == 2 and body["replication"] == 2
        assert len(body["replicas"]) == 2
        stored[body["hash"]] = payload
    for digest in stored:
        where = locations(master, digest)
        assert list(where.values()) == ["up", "up"]
        assert set(where) == holders_on_disk(cluster, digest)

    victim = max(
        cluster.nodes, key=lambda n: sum(node_id(n) in locations(master, d) for d in stored)
    )
    survivors = [n for n in cluster.nodes if n is not victim]
    on_victim = [d for d in stored if node_id(victim) in locations(master, d)]
    assert on_victim
    restore_watch = HealthWatch(master, is_restored)
    killed_at, killed_wall = time.monotonic(), time.time()
    victim.kill()
    dead_wall = time.time()  # the node's processes are gone (kill waits for them)

    # The proxy path steps over the dead replica, and uploads put their copies on the
    # spare (the master knows at once: the node's stream broke, #20).
    for digest in on_victim[:10]:
        response = proxy_download(master, digest)
        assert response.status_code == 200, response.text
        assert response.content == stored[digest]
    for i, payload in enumerate([os.urandom(200_000 + i) for i in range(3)]):
        body = upload(master.url, payload, f"after-kill-{i}.bin")
        assert body["copies"] == 2
        assert sorted(body["replicas"]) == sorted(node_id(n) for n in survivors)
        stored[body["hash"]] = payload
    still_up_after = time.monotonic() - killed_at

    wait_until(lambda: node_states(master)[node_id(victim)] == "down", deadline=15, interval=0.05)
    detected = time.monotonic() - killed_at
    (seen,) = [n for n in get_json(master.url, "/nodes") if n["id"] == node_id(victim)]
    # The last beat was sent before the node died; the master may have stamped it a moment
    # after (a beat on its way when the kill landed). Down at once: its stream broke.
    assert seen["last_beat"] <= dead_wall + IN_FLIGHT
    assert detected <= 2.0
    assert {node_states(master)[node_id(n)] for n in survivors} == {"up"}

    live_urls = tuple(n.url for n in survivors)
    for digest, payload in stored.items():
        response = proxy_download(master, digest)
        assert response.status_code == 200, response.text
        assert response.content == payload
        redirect = requests.get(
            f"{master.url}/download",
            params={"hash": digest},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert redirect.status_code == 302
        assert redirect.headers["Location"].startswith(live_urls), redirect.headers["Location"]
        followed = requests.get(redirect.headers["Location"], timeout=TIMEOUT)
        assert followed.status_code == 200
        assert followed.content == payload

    final = wait_until(lambda: (h := health(master)) and is_restored(h) and h, deadline=60)
    restored_in = restore_watch.stop() - killed_at
    # Within REPAIR_GRACE of going down, the copies on the node still count (no repair
    # yet), but are reported as not live.
    first_down = restore_watch.first_down
    assert first_down is not None
    assert first_down["degraded"] == len(on_victim) and first_down["under_replicated"] == 0
    assert final["files"] == final["healthy"] == len(stored) == 53 and final["lost"] == 0
    for digest, payload in stored.items():
        where = locations(master, digest)
        live = {n for n, state in where.items() if state == "up"}
        assert len(live) == 2, where
        assert live <= holders_on_disk(cluster, digest)
        for node in survivors:
            if node_id(node) in live:
                assert blob_path(node, digest).read_bytes() == payload

    restarted_at = time.monotonic()
    victim.start()
    wait_nodes_up(master, cluster.nodes)

    def trimmed():
        h = health(master)
        return h["over_replicated"] == 0 and h["healthy"] == 53 and h["nodes_up"] == 3 and h

    wait_until(trimmed, deadline=30)
    trimmed_in = time.monotonic() - restarted_at
    for digest, payload in stored.items():
        where = locations(master, digest)
        assert list(where.values()) == ["up", "up"], where
        # What the master believes is what the disks hold: no phantom and no stray copy
        # (a trimmed copy is deleted by its node at its next beat, #20).
        wait_until(lambda w=set(where), d=digest: w == holders_on_disk(cluster, d), deadline=5)
        assert proxy_download(master, digest).content == payload

    print(
        f"\n[figures] 3 nodes, R=2, 50 files ({total / 2**20:.1f} MiB),"
        f" NODE_TIMEOUT={NODE_TIMEOUT}s, SYNC_INTERVAL=0.3s, REPAIR_GRACE=1s,"
        f" REPAIR_INTERVAL=0.5s:\n"
        f"  dead node detected {detected:.2f}s after kill -9 (10 proxy reads and 3 uploads"
        f" took {still_up_after:.2f}s)\n"
        f"  R restored for {len(on_victim)} under-replicated files {restored_in:.2f}s after"
        f" the kill ({restored_in - detected:.2f}s after detection; "
        f"{killed_wall + restored_in - (min(seen['last_beat'], dead_wall) + NODE_TIMEOUT + 1):.2f}s"
        f" after the grace ran out, one REPAIR_INTERVAL wait included)\n"
        f"  extras trimmed {trimmed_in:.2f}s after the node's restart began"
    )


def test_an_upload_straight_to_a_node_is_brought_to_two_copies(cluster):
    wait_nodes_up(cluster.master, cluster.nodes)
    first, second = cluster.nodes
    payload = os.urandom(200_000)
    body = upload(first.url, payload, "direct.bin")
    digest = hashlib.sha256(payload).hexdigest()
    assert body["hash"] == digest and body["registered"] is True
    assert body["replicas"] == [node_id(first), node_id(second)]
    assert blob_path(second, digest).read_bytes() == payload
    got = requests.get(f"{second.url}/retrieve", params={"hash": digest}, timeout=TIMEOUT)
    assert got.status_code == 200 and got.content == payload
    assert locations(cluster.master, digest) == {node_id(first): "up", node_id(second): "up"}


def test_assign_then_a_chained_upload_stores_on_every_assigned_node(cluster):
    wait_nodes_up(cluster.master, cluster.nodes)
    response = requests.post(f"{cluster.master.url}/assign", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["replication"] == 2
    assigned = [n["id"] for n in plan["nodes"]]
    assert sorted(assigned) == sorted(node_id(n) for n in cluster.nodes)
    by_id = {node_id(n): n for n in cluster.nodes}
    head, tail = by_id[assigned[0]], by_id[assigned[1]]
    assert plan["upload_url"] == f"{head.url}/upload" and plan["chain"] == [tail.url]

    payload = os.urandom(150_000)
    response = requests.post(
        plan["upload_url"],
        params={"chain": ",".join(plan["chain"])},
        files={"file": ("chained.bin", payload)},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    digest = hashlib.sha256(payload).hexdigest()
    assert body["hash"] == digest
    assert body["replicas"] == assigned
    for node in (head, tail):
        assert blob_path(node, digest).read_bytes() == payload
    assert locations(cluster.master, digest) == {i: "up" for i in assigned}
    record = get_json(cluster.master.url, "/get", hash=digest)
    assert record["name"] == "chained.bin" and record["size"] == len(payload)


def test_delete_removes_every_copy_and_a_node_away_drops_its_copy_on_return(spawn):
    cluster = spawn(nodes=2, env=FAST)
    master = cluster.master
    present, absent = cluster.nodes
    wait_nodes_up(master, cluster.nodes)
    kept = upload(master.url, os.urandom(3000), "kept.bin")["hash"]
    everywhere = upload(master.url, os.urandom(4000), "everywhere.bin")["hash"]
    while_away = upload(master.url, os.urandom(5000), "while-away.bin")["hash"]
    for digest in (kept, everywhere, while_away):
        assert holders_on_disk(cluster, digest) == {node_id(present), node_id(absent)}

    response = requests.delete(f"{master.url}/files/{everywhere}", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "deleted": everywhere,
        "blobs_deleted": 1,
        "copies_deleted": 2,
        "copies_pending": 0,
    }
    assert holders_on_disk(cluster, everywhere) == set()
    assert (
        requests.get(f"{master.url}/get", params={"hash": everywhere}, timeout=30).status_code
        == 404
    )

    absent.kill()
    response = requests.delete(f"{master.url}/files/{while_away}", timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "deleted": while_away,
        "blobs_deleted": 1,
        "copies_deleted": 1,
        "copies_pending": 1,
    }
    assert holders_on_disk(cluster, while_away) == {node_id(absent)}
    response = proxy_download(master, while_away)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "file_not_found"

    absent.start()
    wait_until(lambda: not blob_path(absent, while_away).exists(), deadline=15)
    # Let the returned node finish its inventory sync and a few heartbeats: its copy list
    # must not bring the deleted file back.
    wait_until(
        lambda: (
            get_json(absent.url, "/health")["unregistered"] == 0
            and locations(master, kept) == {node_id(present): "up", node_id(absent): "up"}
        ),
        deadline=15,
    )
    beats = get_json(master.url, "/nodes")
    wait_until(
        lambda: all(
            n["last_beat"] > b["last_beat"] + 1
            for n, b in zip(get_json(master.url, "/nodes"), beats, strict=True)
        ),
        deadline=15,
    )
    assert (
        requests.get(f"{master.url}/get", params={"hash": while_away}, timeout=30).status_code
        == 404
    )
    assert {f["hash"] for f in get_json(master.url, "/list")} == {kept}
    assert holders_on_disk(cluster, while_away) == set()
    assert get_json(absent.url, "/health")["files"] == 1


def test_without_enough_live_nodes_an_upload_is_refused(spawn):
    cluster = spawn(nodes=2, env=FAST)
    master = cluster.master
    wait_nodes_up(master, cluster.nodes)
    lost = cluster.nodes[1]
    lost.kill()

    def refused() -> None:
        response = requests.post(
            f"{master.url}/upload", files={"file": ("q.bin", os.urandom(2000))}, timeout=TIMEOUT
        )
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "insufficient_replicas"
        assert response.json()["error"]["quorum"] == 2

    refused()  # the write to the dead node failed, or it was known down already
    # Known down at once, its stream broken (#20), well before NODE_TIMEOUT.
    wait_until(lambda: node_states(master)[node_id(lost)] == "down", deadline=2)
    refused()  # too few live nodes to write to


def test_a_write_quorum_of_one_accepts_one_copy_and_repair_adds_the_second(spawn):
    cluster = spawn(nodes=2, env={**FAST, "MDBX_WRITE_QUORUM": "1"})
    master = cluster.master
    survivor, lost = cluster.nodes
    wait_nodes_up(master, cluster.nodes)
    before = upload(master.url, os.urandom(7000), "before.bin")
    assert before["copies"] == 2 and before["quorum"] == 1
    lost.kill()

    payload = os.urandom(6000)
    body = upload(master.url, payload, "one-copy.bin")
    assert body["copies"] == 1 and body["replication"] == 2 and body["quorum"] == 1
    assert body["replicas"] == [node_id(survivor)]
    assert holders_on_disk(cluster, body["hash"]) == {node_id(survivor)}

    newcomer = cluster.add_node()
    wait_until(lambda: node_states(master)[node_id(lost)] == "down", deadline=15)
    wait_until(
        lambda: (h := health(master))["under_replicated"] == 0 and h["degraded"] == 0,
        deadline=30,
    )
    for digest in (before["hash"], body["hash"]):
        live = {n for n, state in locations(master, digest).items() if state == "up"}
        assert live == {node_id(survivor), node_id(newcomer)}
    assert blob_path(newcomer, body["hash"]).read_bytes() == payload
    assert blob_path(newcomer, before["hash"]).is_file()


def test_content_uploaded_again_after_a_delete_keeps_its_copies(spawn):
    cluster = spawn(nodes=3, env=FAST)
    master = cluster.master
    wait_nodes_up(master, cluster.nodes)
    payload = os.urandom(50_000)
    digest = upload(master.url, payload, "again.bin")["hash"]
    by_id = {node_id(n): n for n in cluster.nodes}
    away = by_id[sorted(holders_on_disk(cluster, digest))[0]]
    away.kill()
    deleted = requests.delete(f"{master.url}/files/{digest}", timeout=TIMEOUT).json()
    assert deleted["copies_pending"] == 1

    body = upload(master.url, payload, "again.bin")
    assert body["copies"] == 2
    away.start()
    wait_nodes_up(master, cluster.nodes)
    # The returning node holds a copy of content deleted and uploaded again while it was
    # away: whether it keeps or drops that copy, the master must count what the disks hold.
    beats = get_json(master.url, "/nodes")
    wait_until(
        lambda: all(
            n["last_beat"] > b["last_beat"] + 1
            for n, b in zip(get_json(master.url, "/nodes"), beats, strict=True)
        ),
        deadline=15,
    )
    wait_until(lambda: health(master)["over_replicated"] == 0, deadline=15)
    where = locations(master, digest)
    assert list(where.values()) == ["up", "up"], where
    assert set(where) == holders_on_disk(cluster, digest)
    for node_key in where:
        assert blob_path(by_id[node_key], digest).read_bytes() == payload
