"""What every workload family runs against: the options, the cluster and nginx of one
``make bench`` run, and where its figures go."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from bench.load import Client, expect_ok
from bench.results import Results
from localcluster.launcher import Cluster


@dataclass
class Options:
    duration: float
    threads: int
    connections: int
    small_kib: int
    medium_kib: int
    big_mib: int
    account_mib: int
    repeat: int
    put_concurrency: int
    put_max_files: int
    replication: int
    weed_files: int
    weed_kib: int
    weed_concurrency: int
    weed_seconds: float


@dataclass
class Rig:
    """One run's cluster (master + 2 nodes) and nginx, serving ``www`` from the same disk.

    ``servers`` maps each role's label to the pid of its process tree (for CPU meters).
    """

    opts: Options
    scratch: Path
    www: Path
    nginx_url: str
    cluster: Cluster
    servers: dict[str, int]
    results: Results
    client: Client = field(default_factory=Client)

    @property
    def node(self) -> str:
        return self.cluster.nodes[0].url

    @property
    def master(self) -> str:
        return self.cluster.master.url

    def put_node(self, body: bytes, name: str) -> str:
        """Store ``body`` on node 1 only (registered, no replicas); return its hash."""
        digest = hashlib.sha256(body).hexdigest()
        query = urlencode({"hash": digest, "name": name, "replicate": "0", "register": "1"})
        expect_ok(*self.client.request("PUT", f"{self.node}/upload?{query}", body), f"PUT {name}")
        return digest
