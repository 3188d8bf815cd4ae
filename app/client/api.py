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

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Protocol

import requests
from requests.adapters import HTTPAdapter
from urllib3.fields import RequestField
from urllib3.filepost import choose_boundary

DEFAULT_MASTER = "http://127.0.0.1:9000"
# (connect, read) seconds; a blob of 10 MiB on a slow replica still fits.
TIMEOUT = (3.05, 60.0)
CHUNK = 1024 * 1024
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


def file_digest(path: Path) -> str:
    """Return the SHA-256 of a local file, the address the cluster stores it under."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


class Client:
    """Talks to one master (``MDBX_MASTER``) and reads from the nodes it points to."""

    def __init__(self, master_url: str | None = None) -> None:
        self.master_url = (
            (master_url or os.environ.get("MDBX_MASTER", DEFAULT_MASTER)).split(",")[0].rstrip("/")
        )
        self._http = requests.Session()
        self._http.mount("http://", HTTPAdapter(pool_connections=8, pool_maxsize=32))
        self._http.mount("https://", HTTPAdapter(pool_connections=8, pool_maxsize=32))

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def upload(self, body: bytes | IO[bytes], name: str) -> dict[str, Any]:
        """Store a file through the master, which writes R copies before answering."""
        return self._json("POST", "/upload", files={"file": (name, body)})

    def upload_file(
        self, path: Path, name: str, progress: Progress | None = None
    ) -> dict[str, Any]:
        """Stream a local file to the master under ``name``; answer its record.

        The file is read in chunks while it is sent (never whole in memory). A file over
        the master's per-request limit fails with a ``ClientError`` of status 413.
        """
        body = _MultipartFile(path, name, progress)
        answer = self._json(
            "POST", "/upload", data=body, headers={"Content-Type": body.content_type}
        )
        if answer.get("name") != name:
            # /upload keeps only the last path part of a filename; /register sets the full
            # name ("docs/a.txt") on the record. The block protocol's commit will carry it.
            self._json(
                "POST",
                "/register",
                json={"hash": answer["hash"], "name": name, "size": answer["size"]},
            )
            answer["name"] = name
        return answer

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

    def download(self, file_hash: str, dest: Path, progress: Progress | None = None) -> Path:
        """Write the file to ``dest``, checked against its hash, trying each live replica.

        A replica that is down, answers an error, or sends bytes that do not hash to the
        address is skipped for the next one (``progress`` is reset); ``dest`` appears only
        when complete and right.
        """
        record = self.stat(file_hash)
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

    def _fetch_checked(
        self, node_url: str, digest: str, dest: Path, progress: Progress | None
    ) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            hasher = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                for chunk in self._iter(f"{node_url}/retrieve", {"hash": digest}):
                    hasher.update(chunk)
                    out.write(chunk)
                    if progress is not None:
                        progress.update(len(chunk))
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
