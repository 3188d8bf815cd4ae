"""What every fault scenario of #20 asserts afterwards, and where it writes its figures.

Acknowledged writes are kept with their bytes (``Ledger``); after a fault each one must
read back byte-identical through the master, nothing the cluster lists may be outside
what was acknowledged or in flight, and ``/cluster/health`` must converge to healthy. The
seconds to recover go to ``$MDBX_TEST_OUTPUT/faults.json`` (default ``test-output``), one
entry per scenario, for the integrator's table.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from localcluster.launcher import Role

TIMEOUT = 15
FIGURES = Path(os.environ.get("MDBX_TEST_OUTPUT", "test-output")) / "faults.json"
# Settings that make detection and repair take seconds, not minutes.
FAST = {
    "MDBX_SYNC_INTERVAL": "0.3",
    "MDBX_NODE_TIMEOUT": "2",
    "MDBX_REPAIR_GRACE": "1",
    "MDBX_REPAIR_INTERVAL": "0.5",
    "MDBX_SCRUB_INTERVAL": "3600",
    "MDBX_SCRUB_BYTES_PER_SECOND": "0",
    "MDBX_GRACEFUL_TIMEOUT": "1",
}


def record_figure(scenario: str, **figures: Any) -> None:
    """Keep ``figures`` (seconds to recover and the like) under ``scenario``; print them."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    known = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    known[scenario] = figures
    FIGURES.write_text(json.dumps(known, indent=2, sort_keys=True) + "\n")
    print(f"fault {scenario}: {figures}")


def cluster_health(master: Role) -> dict[str, Any]:
    answer = requests.get(f"{master.url}/cluster/health", timeout=TIMEOUT)
    answer.raise_for_status()
    health: dict[str, Any] = answer.json()
    return health


def is_healthy(health: dict[str, Any], nodes: int) -> bool:
    """Every node up and every blob at R live copies: nothing left to repair."""
    bad = ("degraded", "under_replicated", "unavailable", "lost")
    return (
        health["nodes_up"] == nodes
        and health["nodes_down"] == 0
        and health["healthy"] == health["blobs"]
        and not any(health[key] for key in bad)
    )


def wait_healthy(master: Role, nodes: int, since: float, deadline: float = 60) -> float:
    """Wait until the cluster is healthy; return the seconds since ``since`` (monotonic)."""
    end = time.monotonic() + deadline
    last: Any = None
    while time.monotonic() < end:
        try:
            last = cluster_health(master)
            if is_healthy(last, nodes):
                return time.monotonic() - since
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"cluster not healthy within {deadline}s: {last}")


@dataclass
class Ledger:
    """Files by hash, or by path in one account: acknowledged (with their bytes), refused
    with a clear error (never to be seen), or in flight when a fault struck (either)."""

    acknowledged: dict[str, bytes] = field(default_factory=dict)
    in_flight: dict[str, bytes] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)

    def sent(self, key: str, payload: bytes) -> str:
        self.in_flight[key] = payload
        return key

    def acknowledge(self, key: str) -> None:
        self.acknowledged[key] = self.in_flight.pop(key)

    def refuse(self, key: str) -> None:
        self.in_flight.pop(key)
        self.refused.add(key)

    def assert_account_intact(self, master: Role, headers: dict[str, str]) -> int:
        """The same for a user's files, keyed by path: acknowledged ones read back
        byte-identical, refused ones are absent, those in flight are whole or absent."""
        for path, wanted in [*self.acknowledged.items(), *self.in_flight.items()]:
            answer = requests.get(f"{master.url}/api/files{path}", headers=headers, timeout=TIMEOUT)
            if path in self.in_flight and answer.status_code == 404:
                continue
            assert answer.status_code == 200, (path, answer.text[:200])
            assert answer.content == wanted, (path, "wrong bytes")
        for path in self.refused:
            answer = requests.get(f"{master.url}/api/files{path}", headers=headers, timeout=TIMEOUT)
            assert answer.status_code == 404, (path, "refused but visible", answer.status_code)
        return len(self.acknowledged)

    def assert_intact(self, master: Role) -> int:
        """Every acknowledged file reads back byte-identical through the master, both by
        its redirect and proxied; nothing listed is neither acknowledged nor in flight,
        and what was in flight reads whole or not at all. Return the files checked."""
        for digest, payload in self.acknowledged.items():
            for params in ({"hash": digest}, {"hash": digest, "proxy": "1"}):
                answer = requests.get(f"{master.url}/download", params=params, timeout=TIMEOUT)
                assert answer.status_code == 200, (digest, params, answer.text[:200])
                assert answer.content == payload, (digest, params, "wrong bytes")
        listed = {f["hash"] for f in requests.get(f"{master.url}/list", timeout=TIMEOUT).json()}
        assert set(self.acknowledged) <= listed
        strangers = listed - set(self.acknowledged) - set(self.in_flight)
        assert not strangers, f"listed but refused or never sent: {strangers}"
        for digest in listed & set(self.in_flight):
            answer = requests.get(
                f"{master.url}/download", params={"hash": digest, "proxy": "1"}, timeout=TIMEOUT
            )
            assert answer.status_code == 200 and answer.content == self.in_flight[digest]
        return len(self.acknowledged)
