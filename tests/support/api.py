"""Small HTTP helpers the end-to-end tests share: upload, JSON reads, blob paths, accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from localcluster.launcher import Role

TIMEOUT = 30


def node_id(node: Role) -> str:
    """A node's replica name (its port, as the reference names replicas)."""
    return str(node.port)


def blob_path(node: Role, digest: str) -> Path:
    return node.data_dir / "blobs" / digest[:2] / digest[2:4] / digest


def upload(url: str, payload: bytes, name: str) -> dict[str, Any]:
    """POST /upload (node or master); fail the test unless it answers 200."""
    response = requests.post(f"{url}/upload", files={"file": (name, payload)}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def get_json(url: str, path: str, **params: Any) -> Any:
    response = requests.get(f"{url}{path}", params=params, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


def locations(master: Role, digest: str) -> dict[str, str]:
    """Node id -> live state of each copy the master knows."""
    return {
        loc["node"]: loc["state"] for loc in get_json(master.url, "/get", hash=digest)["locations"]
    }


def new_account(master_url: str, name: str, **fields: Any) -> dict[str, str]:
    """Add the user ``name`` (``fields`` such as ``quota_bytes`` go with it) and log in:
    the headers that carry its token."""
    password = f"pw-{name}-12345"
    added = requests.post(
        f"{master_url}/api/admin/users",
        json={"username": name, "password": password, **fields},
        timeout=TIMEOUT,
    )
    assert added.status_code == 200, added.text
    login = requests.post(
        f"{master_url}/api/login", json={"username": name, "password": password}, timeout=TIMEOUT
    )
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['token']}"}
