"""Python client of a Mini-Dropbox cluster (no Flask): upload, download with replica
fallback, list, delete, status."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import requests
from requests.adapters import HTTPAdapter

# (connect, read) seconds; a blob of 10 MiB on a slow replica still fits.
TIMEOUT = (3.05, 60.0)
CHUNK = 1024 * 1024


class ClientError(Exception):
    """The cluster answered with an error, or no replica could serve a file."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class Client:
    """Talks to one master (``MDBX_MASTER``) and reads from the nodes it points to."""

    def __init__(self, master_url: str | None = None) -> None:
        self.master_url = (
            (master_url or os.environ.get("MDBX_MASTER", "http://127.0.0.1:9000"))
            .split(",")[0]
            .rstrip("/")
        )
        self._http = requests.Session()
        self._http.mount("http://", HTTPAdapter(pool_connections=8, pool_maxsize=32))
        self._http.mount("https://", HTTPAdapter(pool_connections=8, pool_maxsize=32))

    def upload(self, body: bytes | IO[bytes], name: str) -> dict[str, Any]:
        """Store a file through the master, which writes R copies before answering."""
        return self._json("POST", "/upload", files={"file": (name, body)})

    def stat(self, file_hash: str) -> dict[str, Any]:
        """The file's record with the state of each replica."""
        return self._json("GET", "/get", params={"hash": file_hash})

    def list(self) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = self._json("GET", "/list")  # type: ignore[assignment]
        return files

    def delete(self, file_hash: str) -> dict[str, Any]:
        return self._json("DELETE", f"/files/{file_hash}")

    def status(self) -> dict[str, Any]:
        """Cluster health and every node."""
        return {
            "cluster": self._json("GET", "/cluster/health"),
            "nodes": self._json("GET", "/nodes"),
        }

    def download(self, file_hash: str, dest: Path) -> Path:
        """Write the file to ``dest``, checked against its hash, trying each live replica.

        A replica that is down, answers an error, or sends bytes that do not hash to the
        address is skipped for the next one; ``dest`` appears only when complete and right.
        """
        record = self.stat(file_hash)
        urls = [loc["url"] for loc in record.get("locations", []) if loc.get("state") == "up"]
        problems = []
        for url in urls:
            try:
                self._fetch_checked(url, record["hash"], dest)
                return dest
            except (requests.RequestException, ClientError) as exc:
                problems.append(f"{url}: {exc}")
        raise ClientError(
            f"no replica could serve {file_hash}: " + ("; ".join(problems) or "none is up")
        )

    def _fetch_checked(self, node_url: str, digest: str, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            hasher = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for chunk in self._iter(f"{node_url}/retrieve", {"hash": digest}):
                    hasher.update(chunk)
                    out.write(chunk)
            if hasher.hexdigest() != digest:
                raise ClientError(f"bytes from {node_url} do not match the hash")
            os.replace(temp, dest)
        finally:
            Path(temp).unlink(missing_ok=True)

    def _iter(self, url: str, params: dict[str, str]) -> Iterator[bytes]:
        with self._http.get(url, params=params, timeout=TIMEOUT, stream=True) as response:
            if response.status_code != 200:
                raise ClientError(f"{url} answered {response.status_code}", response.status_code)
            yield from response.iter_content(CHUNK)

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, self.master_url + path, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise ClientError(f"master {self.master_url} unreachable: {exc}") from exc
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            raise ClientError(
                error.get("message", f"HTTP {response.status_code}"),
                response.status_code,
                error.get("code"),
            )
        return body
