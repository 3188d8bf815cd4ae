"""The consistency checker under faults (#20): 8 clients write, read, overwrite, delete and
list 20 names in one account through ``/api/`` while a node is killed (-9) and restarted,
the master is killed and restarted, and every node is restarted in turn; the recorded
history must pass ``tests.support.history.check``."""

from __future__ import annotations

import threading
import time

from tests.support.api import new_account
from tests.support.faults import FAST, record_figure, wait_healthy
from tests.support.history import check
from tests.support.history_clients import HistoryClients

SECONDS = 20.0


def inject_faults(cluster, done: threading.Event, log: list[str]) -> None:
    """Fault 1 then fault 5, spread over the run."""
    steps = [
        ("kill -9 node", lambda: cluster.nodes[0].kill(), lambda: cluster.nodes[0].start()),
        ("kill -9 master", cluster.master.kill, cluster.master.start),
        *((f"restart node {n.port}", n.stop, n.start) for n in cluster.nodes),
    ]
    began = time.monotonic()
    for what, fault, cure in steps:
        if done.is_set():
            return
        time.sleep(1.0)
        log.append(f"{time.monotonic() - began:.1f}s {what}")
        fault()
        time.sleep(0.5)
        cure()


def test_the_history_of_eight_clients_under_kills_and_restarts_checks_out(spawn):
    cluster = spawn(nodes=3, env=FAST)
    headers = new_account(cluster.master.url, "faults")
    clients = HistoryClients(cluster.master.url, headers)
    done, log = threading.Event(), []
    faults = threading.Thread(target=inject_faults, args=(cluster, done, log))
    faults.start()
    began = time.monotonic()
    clients.run(SECONDS)
    done.set()
    faults.join(timeout=120)
    cluster.wait_nodes_up()
    recovered = wait_healthy(cluster.master, nodes=3, since=time.monotonic())
    clients.final_reads()
    verdict = check(clients.recorder.ops)
    assert verdict.ok, (verdict.violations[:10], log)
    assert verdict.acknowledged["write"] > 50 and verdict.acknowledged["read"] > 50, verdict
    record_figure(
        "history under kill -9 and restarts",
        seconds=round(time.monotonic() - began, 1),
        checked=verdict.summary(),
        faults=log,
        seconds_to_healthy_after=round(recovered, 2),
    )
