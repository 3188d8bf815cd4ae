"""Python client of a Mini-Dropbox cluster (no Flask): upload, download with replica
fallback, list, delete, status, and finding a file by hash, name or hash prefix.

Every byte the ``mdbx`` command line moves goes through ``Client.upload_file`` and
``Client.download``, so that switching to the block protocol (``POST /uploads``,
manifests) changes this module only.

Errors::

    ClientError
    ├── MasterUnreachable   no answer from the master (refused, timed out, unknown host)
    ├── FileNotFound        404: no file under that hash, name or prefix
    ├── AmbiguousName       a name or prefix matches several files (``candidates``)
    └── NoReplica           no replica could serve the file's bytes
"""

from __future__ import annotations

import collections
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3.fields import RequestField
from urllib3.filepost import choose_boundary

from app.client.credentials import forget_token, load_token, save_token
from app.errors import error_code_of
from app.security import CLUSTER_HEADER

DEFAULT_MASTER = "http://127.0.0.1:9000"

# (connect, read) seconds; a blob of 10 MiB on a slow replica still fits.
TIMEOUT = (3.05, 60.0)
CHUNK = 1024 * 1024
# The master's default block size, and how many blocks travel at once.
BLOCK_SIZE = 4 * 1024 * 1024
PARALLEL = 4
# Announce-send-commit rounds before giving up on blocks that keep failing.
UPLOAD_ROUNDS = 3
SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")
# Shorter hash prefixes would match half the catalogue; ls shows 12 characters.
MIN_PREFIX = 4


class ClientError(Exception):
    """The cluster answered with an error, or no replica could serve a file."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class MasterUnreachable(ClientError):
    """The master did not answer at all."""


class FileNotFound(ClientError, LookupError):
    """No file is registered under that hash, name or prefix."""


class AmbiguousName(ClientError, LookupError):
    """A name or hash prefix matches more than one file."""

    def __init__(self, ref: str, candidates: list[str]) -> None:
        super().__init__(f"'{ref}' matches {len(candidates)} files: " + ", ".join(candidates))
        self.candidates = candidates


class NoReplica(ClientError):
    """Every replica was down, failed, or sent bytes that do not match the hash."""


class Progress(Protocol):
    """Where transfers report bytes; a ``tqdm`` bar fits as it is."""

    def update(self, n: int) -> object: ...

    def reset(self, total: int | None = None) -> object: ...


@dataclass(frozen=True)
class BlockPlan:
    """A local file cut into blocks: its size, SHA-256, and each block's SHA-256."""

    size: int
    hash: str
    blocks: list[str]


def hash_blocks(path: Path, block_size: int) -> BlockPlan:
    """Hash a file and each of its blocks in one read."""
    whole = hashlib.sha256()
    blocks: list[str] = []
    size = 0
    with path.open("rb") as stream:
        while True:
            block = stream.read(block_size)
            if not block and blocks:
                break
            whole.update(block)
            blocks.append(hashlib.sha256(block).hexdigest())
            size += len(block)
            if len(block) < block_size:
                break
    return BlockPlan(size, whole.hexdigest(), blocks)


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (it may write fewer than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def file_digest(path: Path) -> str:
    """Return the SHA-256 of a local file, the address the cluster stores it under."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


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
        return self._json("POST", "/upload", files={"file": (name, body)})

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
        state = self._json("POST", "/uploads", json=announced)
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
            self._send_blocks(path, missing, block_size, parallel, progress, sent)
            try:
                answer = self._json("POST", f"/uploads/{state['upload_id']}/commit")
            except ClientError as exc:
                if exc.code != "blocks_missing":
                    raise
                # A node died after taking a block: ask again where the rest should go.
                state = self._json("GET", f"/uploads/{state['upload_id']}")
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
        body = _MultipartFile(path, name, progress)
        answer = self._json(
            "POST", "/upload", data=body, headers={"Content-Type": body.content_type}
        )
        if answer.get("name") != name:
            # /upload keeps only the last path part of a filename; /register sets the full
            # name ("docs/a.txt") on the record.
            self._json(
                "POST",
                "/register",
                json={"hash": answer["hash"], "name": name, "size": answer["size"]},
            )
            answer["name"] = name
        return {**answer, "blocks": 1, "blocks_sent": 1, "bytes_sent": size}

    def _send_blocks(
        self,
        path: Path,
        missing: list[dict[str, Any]],
        block_size: int,
        parallel: int,
        progress: Progress | None,
        sent: list[int],
    ) -> None:
        """PUT each missing block to its node; failures are left for the next round."""
        with path.open("rb") as stream, ThreadPoolExecutor(max_workers=parallel) as pool:
            fd = stream.fileno()

            def send(block: dict[str, Any]) -> None:
                data = os.pread(fd, block["size"], block["indexes"][0] * block_size)
                try:
                    response = self._http.put(block["url"], data=data, timeout=TIMEOUT)
                except requests.RequestException:
                    return
                if response.status_code == 400 and error_code_of(response) == "hash_mismatch":
                    # The node checks every block against the hash announced for it.
                    raise ClientError(f"{path} changed while it was being uploaded")
                if response.status_code == 200:
                    sent.append(len(data))
                    if progress is not None:
                        progress.update(len(data) * len(block["indexes"]))

            futures = [pool.submit(send, block) for block in missing]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    # ----- accounts -----

    def login(self, username: str, password: str) -> dict[str, Any]:
        """Trade a password for a token, kept for later calls to this master."""
        answer = self._json("POST", "/api/login", json={"username": username, "password": password})
        self._http.headers["Authorization"] = f"Bearer {answer['token']}"
        answer["saved_to"] = str(save_token(self.master_url, answer["token"]))
        return answer

    def logout(self) -> bool:
        """Revoke the current token and forget it."""
        if "Authorization" in self._http.headers:
            self._json("POST", "/api/logout")
        return forget_token(self.master_url)

    def add_user(
        self, username: str, password: str, *, admin: bool = False, quota: int = 0
    ) -> dict[str, Any]:
        payload = {"username": username, "password": password, "admin": admin, "quota_bytes": quota}
        return self._json("POST", "/api/admin/users", json=payload)

    def users(self) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = self._json("GET", "/api/admin/users")["users"]
        return users

    def change_user(self, username: str, **changes: Any) -> dict[str, Any]:
        return self._json("PATCH", f"/api/admin/users/{username}", json=changes)

    # ----- global catalogue -----

    def stat(self, file_hash: str) -> dict[str, Any]:
        """The file's record with the state of each replica."""
        return self._json("GET", "/get", params={"hash": file_hash})

    def has_file(self, file_hash: str) -> bool:
        """Whether the master knows a file under ``file_hash``."""
        try:
            self.stat(file_hash)
        except FileNotFound:
            return False
        return True

    def list(self) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = self._json("GET", "/list")  # type: ignore[assignment]
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
        return self._json("DELETE", f"/files/{file_hash}")

    def status(self) -> dict[str, Any]:
        """Cluster health and every node."""
        return {
            "cluster": self._json("GET", "/cluster/health"),
            "nodes": self._json("GET", "/nodes"),
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
        answers an error, or sends bytes that do not hash to the address is skipped for
        the next; ``dest`` appears only when complete and right.
        """
        record = self.stat(file_hash)
        if record.get("blocks"):
            block_map = self._json("GET", f"/files/{record['hash']}/blocks")
            with _PartFile(dest) as part:
                digest = self._fetch_blocks(block_map["blocks"], part.fd, parallel, progress)
                if digest != record["hash"]:
                    raise NoReplica(f"the blocks of {file_hash} do not add up to its hash")
                part.keep()
            return dest
        urls = [loc["url"] for loc in record.get("locations", []) if loc.get("state") == "up"]
        problems = []
        for url in urls:
            try:
                self._fetch_checked(url, record["hash"], dest, progress)
                return dest
            except (requests.RequestException, ClientError) as exc:
                problems.append(f"{url}: {exc}")
                if progress is not None:
                    progress.reset(record.get("size"))
        raise NoReplica(
            f"no replica could serve {file_hash}: " + ("; ".join(problems) or "none is up")
        )

    def _fetch_blocks(
        self, blocks: Sequence[dict[str, Any]], fd: int, parallel: int, progress: Progress | None
    ) -> str:
        """Fetch blocks ``parallel`` at a time, write them in order; return the file's hash.

        At most two blocks per worker wait in memory for their turn to be written.
        """

        def fetch(block: dict[str, Any]) -> bytes:
            problems = []
            for url in block["urls"]:
                try:
                    # A secured cluster signs each block's reads (the block map's token).
                    params = {
                        "hash": block["hash"],
                        **({"token": block["token"]} if "token" in block else {}),
                    }
                    data = b"".join(self._iter(f"{url}/retrieve", params))
                except (requests.RequestException, ClientError) as exc:
                    problems.append(f"{url}: {exc}")
                    continue
                if hashlib.sha256(data).hexdigest() == block["hash"]:
                    return data
                problems.append(f"{url}: bytes do not match block {block['hash']}")
            raise NoReplica(
                f"no replica could serve block {block['hash']}: "
                + ("; ".join(problems) or "none is up")
            )

        whole = hashlib.sha256()
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            pending: collections.deque[Future[bytes]] = collections.deque()
            try:
                for block in [*blocks, None]:
                    if block is not None:
                        pending.append(pool.submit(fetch, block))
                    while pending and (block is None or len(pending) > 2 * parallel):
                        data = pending.popleft().result()
                        whole.update(data)
                        write_all(fd, data)
                        if progress is not None:
                            progress.update(len(data))
            finally:
                for future in pending:
                    future.cancel()
        return whole.hexdigest()

    def _fetch_checked(
        self, node_url: str, digest: str, dest: Path, progress: Progress | None
    ) -> None:
        with _PartFile(dest) as part:
            hasher = hashlib.sha256()
            for chunk in self._iter(f"{node_url}/retrieve", {"hash": digest}):
                hasher.update(chunk)
                write_all(part.fd, chunk)
                if progress is not None:
                    progress.update(len(chunk))
            if hasher.hexdigest() != digest:
                raise ClientError(f"bytes from {node_url} do not match the hash")
            part.keep()

    def _iter(self, url: str, params: dict[str, str]) -> Iterator[bytes]:
        with self._http.get(url, params=params, timeout=TIMEOUT, stream=True) as response:
            if response.status_code != 200:
                raise ClientError(f"{url} answered {response.status_code}", response.status_code)
            yield from response.iter_content(CHUNK)

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, self.master_url + path, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise MasterUnreachable(
                f"master {self.master_url} unreachable: {_reason(exc)}"
            ) from exc
        try:
            body: dict[str, Any] = response.json()
        except ValueError:
            body = {}
        if response.status_code >= 400:
            error = body.get("error") if isinstance(body, dict) else None
            if not isinstance(error, dict):
                # Not the cluster's JSON error: a proxy, or some other server on that port.
                raise ClientError(
                    f"{method} {self.master_url}{path} answered HTTP {response.status_code} "
                    "without a Mini-Dropbox error body",
                    response.status_code,
                )
            kind = FileNotFound if response.status_code == 404 else ClientError
            raise kind(
                error.get("message", f"HTTP {response.status_code}"),
                response.status_code,
                error.get("code"),
            )
        return body


class _PartFile:
    """A hidden temp file beside ``dest`` that becomes ``dest`` only if kept."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        self.path = Path(name)

    def __enter__(self) -> _PartFile:
        return self

    def __exit__(self, *_exc: object) -> None:
        os.close(self.fd)
        self.path.unlink(missing_ok=True)

    def keep(self) -> None:
        os.replace(self.path, self.dest)


class _MultipartFile:
    """A multipart/form-data body of one file part, read from disk as it is sent.

    requests sends an iterable with a length as a plain (not chunked) body, so the master
    sees a Content-Length and can refuse an oversized file before reading it.
    """

    def __init__(self, path: Path, name: str, progress: Progress | None) -> None:
        self.path = path
        self.size = path.stat().st_size
        self.progress = progress
        boundary = choose_boundary()
        self.content_type = f"multipart/form-data; boundary={boundary}"
        part = RequestField(name="file", data=b"", filename=name)
        part.make_multipart(content_type="application/octet-stream")
        self.head = f"--{boundary}\r\n".encode() + part.render_headers().encode()
        self.tail = f"\r\n--{boundary}--\r\n".encode()

    def __len__(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        left = self.size
        with self.path.open("rb") as stream:
            while left > 0:
                chunk = stream.read(min(CHUNK, left))
                if not chunk:
                    raise ClientError(f"{self.path} shrank while it was being sent")
                left -= len(chunk)
                if self.progress is not None:
                    self.progress.update(len(chunk))
                yield chunk
        yield self.tail


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
