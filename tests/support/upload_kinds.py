"""Every way a file gets into the cluster, as one call each: the fault tests run them all
while a process dies. Each returns the file's hash once the cluster acknowledged it
(HTTP 200) and raises otherwise (``requests`` errors or ``Refused``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import requests

from localcluster.launcher import Cluster

TIMEOUT = 15


class Refused(Exception):
    """The cluster answered, but not 200: nothing acknowledged."""


def _ok(answer: requests.Response) -> dict:
    if answer.status_code != 200:
        raise Refused(f"{answer.status_code} {answer.text[:200]}")
    return answer.json()


def multipart_to_master(cluster: Cluster, payload: bytes, name: str) -> str:
    url = f"{cluster.master.url}/upload"
    return _ok(requests.post(url, files={"file": (name, payload)}, timeout=TIMEOUT))["hash"]


def multipart_to_node(cluster: Cluster, payload: bytes, name: str, node: int = 0) -> str:
    """The reference's way: straight to a node, which forwards the second copy."""
    url = f"{cluster.nodes[node].url}/upload"
    return _ok(requests.post(url, files={"file": (name, payload)}, timeout=TIMEOUT))["hash"]


def raw_to_master(cluster: Cluster, payload: bytes, name: str) -> str:
    url = f"{cluster.master.url}/upload/{name}"
    return _ok(requests.put(url, data=payload, timeout=TIMEOUT))["hash"]


def block_protocol(cluster: Cluster, payload: bytes, name: str, block_size: int) -> str:
    """Announce, PUT each missing block to the node named, commit."""
    blocks = [payload[i : i + block_size] for i in range(0, len(payload), block_size)]
    plan = {
        "name": name,
        "size": len(payload),
        "hash": hashlib.sha256(payload).hexdigest(),
        "block_size": block_size,
        "blocks": [hashlib.sha256(b).hexdigest() for b in blocks],
    }
    master = cluster.master.url
    begun = _ok(requests.post(f"{master}/uploads", json=plan, timeout=TIMEOUT))
    if begun["complete"]:
        return plan["hash"]
    for block in begun["missing"]:
        data = blocks[block["indexes"][0]]
        _ok(requests.put(block["url"], data=data, timeout=TIMEOUT))
    committed = requests.post(f"{master}/uploads/{begun['upload_id']}/commit", timeout=TIMEOUT)
    return _ok(committed)["hash"]


def api_put(master_url: str, headers: dict[str, str], payload: bytes, path: str) -> str:
    """A user's file, ``PUT /api/files/<path>``."""
    url = f"{master_url}/api/files/{path.lstrip('/')}"
    return _ok(requests.put(url, data=payload, headers=headers, timeout=TIMEOUT))["hash"]


Uploader = Callable[[Cluster, bytes, str], str]
