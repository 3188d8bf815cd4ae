"""Uploads of every kind, one thread per kind, without pause, while a test breaks things.

Each file is put in a ``Ledger`` before it is sent and moved to acknowledged (a 200) or
refused (a clear error) after: what a fault leaves in between is "in flight". Public files
are keyed by hash, the account's by path. Bounded: each thread stops after ``MAX_FILES``.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from functools import partial

import requests

from localcluster.launcher import Cluster
from tests.support.faults import Ledger
from tests.support.upload_kinds import (
    Refused,
    api_put,
    block_protocol,
    multipart_to_master,
    multipart_to_node,
    raw_to_master,
)

MAX_FILES = 400
KINDS = ("multipart-master", "multipart-node", "raw-master", "blocks", "api")


class UploadLoad:
    def __init__(
        self,
        cluster: Cluster,
        headers: dict[str, str],
        block_size: int,
        kinds: tuple[str, ...] = KINDS,
        node: int = 0,
    ) -> None:
        self.cluster = cluster
        self.block_size = block_size
        self.files = Ledger()
        self.account = Ledger()
        self.kinds = kinds
        self.outcomes: Counter[str] = Counter()
        self._stop = threading.Event()
        senders: dict[str, Callable[[bytes, str], str]] = {
            "multipart-master": partial(multipart_to_master, cluster),
            "multipart-node": partial(multipart_to_node, cluster, node=node),
            "raw-master": partial(raw_to_master, cluster),
            "blocks": partial(block_protocol, cluster, block_size=block_size),
            "api": lambda payload, path: api_put(cluster.master.url, headers, payload, path),
        }
        self._threads = [
            threading.Thread(target=self._run, args=(kind, senders[kind]), daemon=True)
            for kind in kinds
        ]

    def start(self) -> UploadLoad:
        for thread in self._threads:
            thread.start()
        return self

    def _run(self, kind: str, send: Callable[[bytes, str], str]) -> None:
        rng = random.Random(kind)
        for i in range(MAX_FILES):
            if self._stop.is_set():
                return
            # Multi-block files for the block protocol; one block or several elsewhere.
            sizes = [2 * self.block_size + 17] if kind == "blocks" else [700, 20_000, 150_000]
            payload = rng.randbytes(rng.choice(sizes)) + f"{kind}-{i}".encode()
            ledger = self.account if kind == "api" else self.files
            key = f"/load/{kind}-{i}.bin" if kind == "api" else hashlib.sha256(payload).hexdigest()
            ledger.sent(key, payload)
            try:
                send(payload, key if kind == "api" else f"{kind}-{i}.bin")
            except Refused:
                ledger.refuse(key)
                self.outcomes[f"{kind} refused"] += 1
            except requests.RequestException:
                self.outcomes[f"{kind} broken"] += 1  # in flight: may or may not be stored
                time.sleep(0.05)  # a dead process refuses at once: do not spin
            else:
                ledger.acknowledge(key)
                self.outcomes[f"{kind} ok"] += 1

    def wait_acknowledged(self, each: int, deadline: float = 30) -> None:
        """Wait until every kind has ``each`` files acknowledged."""
        end = time.monotonic() + deadline
        while any(self.outcomes[f"{k} ok"] < each for k in self.kinds):
            assert time.monotonic() < end, f"uploads too slow: {dict(self.outcomes)}"
            time.sleep(0.05)

    def stop(self) -> Counter[str]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
            assert not thread.is_alive()
        return self.outcomes
