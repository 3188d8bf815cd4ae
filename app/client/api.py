"""The master's HTTP API for Python (no Flask): upload, download with replica fallback,
list, delete, status, accounts, and finding a file by hash, name or hash prefix.

Every byte the ``mdbx`` command line moves goes through ``Client.upload_file`` and
``Client.download``: the master says where blocks go and which replicas hold them, and
``app.client.transfer`` moves the bytes to and from the nodes. Failures raise the
``ClientError`` tree of ``app.client.errors``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import IO, Any

import requests
from requests.adapters import HTTPAdapter

from app.client.credentials import DEFAULT_MASTER, forget_token, load_token, save_token
from app.client.errors import (
    AmbiguousName,
    ClientError,
    FileNotFound,
    MasterUnreachable,
    NoReplica,
)
from app.client.transfer import (
    BLOCK_SIZE,
    PARALLEL,
    TIMEOUT,
    MultipartFile,
    PartFile,
    Progress,
    fetch_blob,
    fetch_blocks,
    hash_blocks,
    send_blocks,
)
from app.security import CLUSTER_HEADER

# Announce-send-commit rounds before giving up on blocks that keep failing.
UPLOAD_ROUNDS = 3
SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
# Shorter hash prefixes would match half the catalogue; ls shows 12 characters.
MIN_PREFIX = 4
# Seconds a recover may take: the master waits for every node's inventory (RECOVERY_WAIT,
# 30 s by default) and at most a minute more.
RECOVER_TIMEOUT = 180.0


class Client:
    """Talks to one master (``MDBX_MASTER``) and reads from the nodes it points to."""

    def __init__(self, master_url: str | None = None, token: str | None = None) -> None:
        self.master_url = (
            (master_url or os.environ.get("MDBX_MASTER", DEFAULT_MASTER)).split(",")[0].rstrip("/")
        )
        self._http = requests.Session()
        # A token from `mdbx login` (or MDBX_TOKEN); an operator's cluster secret opens
        # the global API and admin calls of a secured cluster.
        token = token or os.environ.get("MDBX_TOKEN") or load_token(self.master_url)
        if token:
            self._http.headers["Authorization"] = f"Bearer {token}"
        secret = os.environ.get("MDBX_CLUSTER_SECRET")
        if secret:
            self._http.headers[CLUSTER_HEADER] = secret
        self._http.mount("http://", HTTPAdapter(pool_connections=8, pool_maxsize=32))
        self._http.mount("https://", HTTPAdapter(pool_connections=8, pool_maxsize=32))

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def upload(self, body: bytes | IO[bytes], name: str) -> dict[str, Any]:
        """Store a file through the master, which writes R copies before answering."""
        return self.call("POST", "/upload", files={"file": (name, body)})

    def upload_file(
        self,
        path: Path,
        name: str,
        progress: Progress | None = None,
        *,
        parallel: int = PARALLEL,
        block_size: int = BLOCK_SIZE,
    ) -> dict[str, Any]:
        """Store a local file under ``name``; answer its record.

        A file of one block goes through the master in one request. A larger one uses
        the block protocol: its blocks are hashed here, the master says which the
        cluster lacks, those go to the nodes ``parallel`` at a time, and a commit makes
        the file appear. Run again after an interruption, it sends only what is still
        missing. The answer adds ``blocks``, ``blocks_sent`` and ``bytes_sent``.
        """
        size = path.stat().st_size
        if size <= block_size:
            return self._upload_small(path, name, size, progress)
        plan = hash_blocks(path, block_size)
        announced = {
            "name": name,
            "size": plan.size,
            "hash": plan.hash,
            "block_size": block_size,
            "blocks": plan.blocks,
        }
        state = self.call("POST", "/uploads", json=announced)
        sent: list[int] = []
        for _round in range(UPLOAD_ROUNDS):
            if state.get("complete"):
                if progress is not None:
                    progress.update(size)
                file = state["file"]
                return {
                    **file,
                    "copies": len(file["replicas"]),
                    "blocks": len(plan.blocks),
                    "blocks_sent": 0,
                    "bytes_sent": 0,
                }
            missing = state["missing"]
            if progress is not None:
                progress.reset(size)
                progress.update(size - sum(m["size"] * len(m["indexes"]) for m in missing))
            sent += send_blocks(self._http, path, missing, block_size, parallel, progress)
            try:
                answer = self.call("POST", f"/uploads/{state['upload_id']}/commit")
            except ClientError as exc:
                if exc.code != "blocks_missing":
                    raise
                # A node died after taking a block: ask again where the rest should go.
                state = self.call("GET", f"/uploads/{state['upload_id']}")
                continue
            return {
                **answer,
                "blocks": len(plan.blocks),
                "blocks_sent": len(sent),
                "bytes_sent": sum(sent),
            }
        raise ClientError(f"{path}: blocks kept failing to reach the nodes; try again")

    def _upload_small(
        self, path: Path, name: str, size: int, progress: Progress | None
    ) -> dict[str, Any]:
        body = MultipartFile(path, name, progress)
        answer = self.call(
            "POST", "/upload", data=body, headers={"Content-Type": body.content_type}
        )
        if answer.get("name") != name:
            # /upload keeps only the last path part of a filename; /register sets the full
            # name ("docs/a.txt") on the record.
            self.call(
                "POST",
                "/register",
                json={"hash": answer["hash"], "name": name, "size": answer["size"]},
            )
            answer["name"] = name
        return {**answer, "blocks": 1, "blocks_sent": 1, "bytes_sent": size}

    # ----- accounts -----

    def login(self, username: str, password: str) -> dict[str, Any]:
        """Trade a password for a token, kept for later calls to this master."""
        answer = self.call("POST", "/api/login", json={"username": username, "password": password})
        self._http.headers["Authorization"] = f"Bearer {answer['token']}"
        answer["saved_to"] = str(save_token(self.master_url, answer["token"]))
        return answer

    def logout(self) -> bool:
        """Revoke the current token and forget it."""
        if "Authorization" in self._http.headers:
            self.call("POST", "/api/logout")
        return forget_token(self.master_url)

    def add_user(
        self, username: str, password: str, *, admin: bool = False, quota: int = 0
    ) -> dict[str, Any]:
        payload = {"username": username, "password": password, "admin": admin, "quota_bytes": quota}
        return self.call("POST", "/api/admin/users", json=payload)

    def users(self) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = self.call("GET", "/api/admin/users")["users"]
        return users

    # ----- backup and recovery (admin) -----

    def take_snapshot(self) -> dict[str, Any]:
        return self.call("POST", "/admin/snapshots")

    def snapshots(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.call("GET", "/admin/snapshots")["snapshots"]
        return found

    def snapshot_bytes(self, digest: str) -> bytes:
        return self.send("GET", f"/admin/snapshots/{digest}").content

    def restore_snapshot(self, data: bytes | None) -> dict[str, Any]:
        """Replace the user trees with ``data`` (a snapshot file), or None: the latest kept."""
        if data is None:
            return self.call("POST", "/admin/restore", params={"latest": "1"})
        headers = {"Content-Type": "application/gzip"}
        return self.call("POST", "/admin/restore", data=data, headers=headers)

    def recover(self) -> dict[str, Any]:
        """Rebuild the catalogue from the nodes; the master answers once it is done."""
        return self.call("POST", "/admin/recover", timeout=(TIMEOUT[0], RECOVER_TIMEOUT))

    def change_user(self, username: str, **changes: Any) -> dict[str, Any]:
        return self.call("PATCH", f"/api/admin/users/{username}", json=changes)

    # ----- global catalogue -----

    def stat(self, file_hash: str) -> dict[str, Any]:
        """The file's record with the state of each replica."""
        return self.call("GET", "/get", params={"hash": file_hash})

    def has_file(self, file_hash: str) -> bool:
        """Whether the master knows a file under ``file_hash``."""
        try:
            self.stat(file_hash)
        except FileNotFound:
            return False
        return True

    def list(self) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = self.call("GET", "/list")  # type: ignore[assignment]
        return files

    def resolve(self, ref: str) -> dict[str, Any]:
        """Return the record (as ``stat``) of the file whose hash, name or prefix is ``ref``.

        A full SHA-256 is looked up directly; otherwise a key, then a name, then a unique
        hash prefix of at least 4 characters. Raises ``FileNotFound`` or ``AmbiguousName``.
        """
        if SHA256_RE.fullmatch(ref):
            return self.stat(ref.lower())
        files = self.list()
        matches = [f for f in files if f["hash"] == ref] or [f for f in files if f["name"] == ref]
        if not matches and len(ref) >= MIN_PREFIX:
            matches = [f for f in files if f["hash"].startswith(ref.lower())]
        if not matches:
            raise FileNotFound(f"no file has the hash, name or hash prefix '{ref}'", 404)
        if len(matches) > 1:
            raise AmbiguousName(ref, [f["hash"] for f in matches])
        return self.stat(matches[0]["hash"])

    def delete(self, file_hash: str) -> dict[str, Any]:
        return self.call("DELETE", f"/files/{file_hash}")

    def status(self) -> dict[str, Any]:
        """Cluster health and every node."""
        return {
            "cluster": self.call("GET", "/cluster/health"),
            "nodes": self.call("GET", "/nodes"),
        }

    def download(
        self,
        file_hash: str,
        dest: Path,
        progress: Progress | None = None,
        *,
        parallel: int = PARALLEL,
    ) -> Path:
        """Write the file to ``dest``, checked against its hash, trying each live replica.

        A file of several blocks is fetched ``parallel`` blocks at a time, straight from
        the nodes, each block checked against its own hash. A replica that is down,
        answers an error, falls silent for FALLBACK_TIMEOUT or sends bytes that do not
        hash to the address is skipped for the next (and tried last for the rest of the
        download); ``dest`` appears only when complete and right.
        """
        record = self.stat(file_hash)
        if record.get("blocks"):
            block_map = self.call("GET", f"/files/{record['hash']}/blocks")
            with PartFile(dest) as part:
                digest = fetch_blocks(self._http, block_map["blocks"], part.fd, parallel, progress)
                if digest != record["hash"]:
                    raise NoReplica(f"the blocks of {file_hash} do not add up to its hash")
                part.keep()
            return dest
        urls = [loc["url"] for loc in record.get("locations", []) if loc.get("state") == "up"]
        fetch_blob(self._http, urls, record["hash"], dest, progress)
        return dest

    @property
    def session(self) -> requests.Session:
        """The pooled session, with this client's token and secret headers."""
        return self._http

    @property
    def has_token(self) -> bool:
        """Whether a token (``mdbx login`` or ``MDBX_TOKEN``) rides on every call."""
        return "Authorization" in self._http.headers

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One request to the master; its JSON answer, or the ``ClientError`` it means."""
        response = self.send(method, path, **kwargs)
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        return body

    def send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One request to the master; the response if it is no error (else raise)."""
        kwargs.setdefault("timeout", TIMEOUT)
        try:
            response = self._http.request(method, self.master_url + path, **kwargs)
        except requests.RequestException as exc:
            raise MasterUnreachable(
                f"master {self.master_url} unreachable: {_reason(exc)}"
            ) from exc
        if response.status_code >= 400:
            raise error_of(response, f"{method} {self.master_url}{path}")
        return response


def error_of(response: requests.Response, request_line: str) -> ClientError:
    """The ``ClientError`` a failed answer stands for, with the server's code."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        # Not the cluster's JSON error: a proxy, or some other server on that port.
        return ClientError(
            f"{request_line} answered HTTP {response.status_code} "
            "without a Mini-Dropbox error body",
            response.status_code,
        )
    kind = FileNotFound if response.status_code == 404 else ClientError
    return kind(
        error.get("message", f"HTTP {response.status_code}"),
        response.status_code,
        error.get("code"),
        {k: v for k, v in error.items() if k not in ("code", "message")},
    )


def _reason(exc: requests.RequestException) -> str:
    """The root cause of a failed request in a few words ("Connection refused").

    requests wraps urllib3's MaxRetryError around the socket error; its own text is a
    paragraph of pool internals that helps nobody at a prompt.
    """
    if isinstance(exc, requests.Timeout):
        return "timed out"
    pending: list[object] = [exc]
    while pending:
        seen = pending.pop(0)
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        if isinstance(seen, BaseException):
            pending.extend([seen.__cause__, seen.__context__, getattr(seen, "reason", None)])
            pending.extend(seen.args)
    return str(exc)
