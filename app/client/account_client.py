"""A user's own tree through the master's ``/api/`` for Python (no Flask): list, upload
(tus for a file over one chunk), download, move, copy, trash, versions, shares, quota.

Every call carries the token of ``mdbx login`` (or ``MDBX_TOKEN``) through the
``app.client.api.Client`` it wraps; without one, or when the master no longer takes it,
calls raise ``NotLoggedIn``. Other failures raise the ``ClientError`` tree with the
server's code (404 ``FileNotFound``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
import posixpath
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from app.client.api import Client
from app.client.block_reads import write_blocks
from app.client.errors import ClientError, MasterUnreachable, NotLoggedIn
from app.client.pending_uploads import (
    find_pending,
    forget_pending,
    remember_pending,
    upload_key,
)
from app.client.transfer import (
    BLOCK_SIZE,
    CHUNK,
    PARALLEL,
    TIMEOUT,
    FileBody,
    PartFile,
    Progress,
    write_all,
)

TUS_VERSION = "1.0.0"
TUS_HEADERS = {"Tus-Resumable": TUS_VERSION}
# What the master's tus OPTIONS answer names as the size of one PATCH.
CHUNK_SIZE_HEADER = "Mdbx-Chunk-Size"
# The master's default, should an older master not say.
DEFAULT_CHUNK = 8 * 1024 * 1024
# Tries of one chunk, asking the master its offset after each failure.
CHUNK_TRIES = 4
# Entries in one page of /api/list, the most the master gives.
PAGE = 1_000
# Pages of one folder at most: 1,000,000 entries.
MAX_PAGES = 1_000
# Entries of /api/tree, or changes of /api/changes, in one page (the master allows 5,000).
FEED_PAGE = 5_000


class AccountClient:
    """A logged-in user's files on the master ``client`` talks to."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self._chunk_bytes: int | None = None

    # ----- calls -----

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One /api/ call; 401 (or no token at all) becomes ``NotLoggedIn``."""
        self._check_token()
        try:
            return self.client.call(method, path, **kwargs)
        except ClientError as exc:
            raise _login_error(exc, self.client.master_url) from None

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        self._check_token()
        try:
            return self.client.send(method, path, **kwargs)
        except ClientError as exc:
            raise _login_error(exc, self.client.master_url) from None

    def _check_token(self) -> None:
        if not self.client.has_token:
            raise NotLoggedIn(
                f"not logged in to {self.client.master_url}: run `mdbx login USERNAME` "
                "(or set MDBX_TOKEN)",
                401,
                "not_logged_in",
            )

    # ----- the tree -----

    def account(self) -> dict[str, Any]:
        return self.call("GET", "/api/account")

    def stat(self, path: str) -> dict[str, Any]:
        return self.call("GET", "/api/stat", params={"path": path})

    def list_folder(self, path: str) -> dict[str, Any]:
        """Every entry of a folder (page after page), folders first."""
        entries: list[dict[str, Any]] = []
        answer: dict[str, Any] = {}
        for _page in range(MAX_PAGES):
            params = {"path": path, "offset": len(entries), "limit": PAGE}
            answer = self.call("GET", "/api/list", params=params)
            entries += answer["entries"]
            if not answer["entries"] or len(entries) >= answer["total"]:
                break
        return {**answer, "entries": entries, "total": len(entries), "offset": 0}

    def walk(self, path: str) -> Iterator[dict[str, Any]]:
        """Every entry under a folder, depth first, parents before their children."""
        for entry in self.list_folder(path)["entries"]:
            yield entry
            if entry["is_dir"]:
                yield from self.walk(entry["path"])

    # ----- the change feed -----

    def tree(self, path: str) -> tuple[list[dict[str, Any]], str]:
        """Every entry below a folder (page after page) and the feed's cursor for it,
        read before the first page (``GET /api/tree``)."""
        entries: list[dict[str, Any]] = []
        params: dict[str, Any] = {"path": path, "limit": FEED_PAGE}
        cursor = ""
        for page in range(MAX_PAGES):
            answer = self.call("GET", "/api/tree", params=params)
            entries += answer["entries"]
            cursor = answer["cursor"] if page == 0 else cursor
            if answer["next"] is None:
                break
            params["after"] = answer["next"]
        return entries, cursor

    def changes(self, cursor: str) -> tuple[list[dict[str, Any]], str]:
        """Every change after ``cursor``, in order, and the cursor after them (410
        ``cursor_expired``: list the tree again)."""
        found: list[dict[str, Any]] = []
        for _page in range(MAX_PAGES):
            answer = self.call("GET", "/api/changes", params={"cursor": cursor, "limit": FEED_PAGE})
            found += answer["changes"]
            cursor = answer["cursor"]
            if not answer["has_more"]:
                break
        return found, cursor

    def wait_for_changes(self, cursor: str, timeout: int) -> bool:
        """Hold until something changes after ``cursor`` (True) or ``timeout`` s pass."""
        answer = self.call(
            "GET",
            "/api/changes/wait",
            params={"cursor": cursor, "timeout": timeout},
            timeout=(TIMEOUT[0], timeout + TIMEOUT[1]),
        )
        return bool(answer["changes"])

    def mkdir(self, path: str) -> dict[str, Any]:
        return self.call("POST", "/api/mkdir", json={"path": path})

    def move(self, source: str, target: str) -> dict[str, Any]:
        return self.call("POST", "/api/move", json={"from": source, "to": target})

    def copy(self, source: str, target: str) -> dict[str, Any]:
        return self.call("POST", "/api/copy", json={"from": source, "to": target})

    def delete(self, path: str) -> dict[str, Any]:
        """Move a file or folder to the trash: ``{"path", "trash_id"}``."""
        return self.call("DELETE", "/api/files/" + _quoted(path))

    def put_batch(self, folder: str, files: Sequence[tuple[str, bytes]]) -> list[dict[str, Any]]:
        """Store many small files (each at most a block, 4 MiB; at most 1,000 and 64 MiB
        in all) under ``folder`` in one request: ``(path relative to it, bytes)``. A
        result per file, in order: ``{"path","size","hash","version"}`` once durable, or
        ``{"path","error": {"code","message"}}`` (``too_large``, ``quota_exceeded``...)."""
        parts = [(relpath, (posixpath.basename(relpath), data)) for relpath, data in files]
        answer = self.call("POST", "/api/batch", params={"dir": folder}, files=parts)
        results: list[dict[str, Any]] = answer["results"]
        return results

    def trash(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.call("GET", "/api/trash")["trash"]
        return items

    def restore_trash(self, trash_id: str) -> dict[str, Any]:
        return self.call("POST", "/api/restore", json={"trash_id": trash_id})

    def restore_version(self, path: str, version: int) -> dict[str, Any]:
        return self.call("POST", "/api/restore", json={"path": path, "version": version})

    def versions(self, path: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.call("GET", "/api/versions", params={"path": path})[
            "versions"
        ]
        return found

    def share(
        self, path: str, *, expires_in: float | None = None, password: str | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"path": path, "expires_in": expires_in}
        if password is not None:
            payload["password"] = password
        return self.call("POST", "/api/shares", json=payload)

    def shares(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.call("GET", "/api/shares")["shares"]
        return found

    def unshare(self, token_or_id: str) -> dict[str, Any]:
        return self.call("DELETE", "/api/shares/" + quote(token_or_id, safe=""))

    # ----- bytes -----

    def chunk_bytes(self) -> int:
        """The size of one tus PATCH, as the master says (asked once)."""
        if self._chunk_bytes is None:
            answer = self._send("OPTIONS", "/api/tus/")
            raw = answer.headers.get(CHUNK_SIZE_HEADER, "")
            self._chunk_bytes = int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_CHUNK
        return self._chunk_bytes

    def upload(self, local: Path, remote: str, progress: Progress | None = None) -> dict[str, Any]:
        """Store a local file at ``remote``; answer ``{"path","size","hash","version"}``.

        A file of one chunk is one streamed ``PUT /api/files/...``; a larger one goes
        through tus, chunk after chunk, and a chunk that fails is sent again from the
        offset the master has (``CHUNK_TRIES`` times). An upload of the same unchanged
        file begun earlier (``app.client.pending_uploads``) goes on where it stopped;
        the answer then adds ``resumed_from``, the offset it went on from.
        """
        size = local.stat().st_size
        if size <= self.chunk_bytes():
            body = FileBody(local, 0, size, progress)
            answer = self.call(
                "PUT",
                "/api/files/" + _quoted(remote),
                data=body,
                headers={"Content-Type": "application/octet-stream"},
            )
            return answer
        resumed_from = self._upload_resumable(local, remote, size, progress)
        entry = self.stat(remote)
        stored = {key: entry[key] for key in ("path", "size", "hash", "version")}
        return {**stored, "resumed_from": resumed_from}

    def has_pending_upload(self, local: Path, remote: str) -> bool:
        """Whether a tus upload of this unchanged file to ``remote`` was begun here."""
        return find_pending(upload_key(self.client.master_url, remote, local)) is not None

    def _upload_resumable(
        self, local: Path, remote: str, size: int, progress: Progress | None
    ) -> int:
        """Send the file through tus; answer the offset it went on from (0: a new one)."""
        key = upload_key(self.client.master_url, remote, local)
        location, offset = self._resume(key)
        resumed_from = offset
        if location is None:
            metadata = "path " + base64.b64encode(remote.encode()).decode()
            created = self._send(
                "POST",
                "/api/tus/",
                headers={**TUS_HEADERS, "Upload-Length": str(size), "Upload-Metadata": metadata},
            )
            # The master answers a path; a proxy in front may make it a whole URL.
            location = urlsplit(created.headers["Location"]).path
            offset = int(created.headers.get("Upload-Offset", "0"))
            remember_pending(key, location)
        if progress is not None:
            progress.update(offset)
        chunk = self.chunk_bytes()
        tries = 0
        while offset < size:
            length = min(chunk, size - offset)
            try:
                answer = self._send(
                    "PATCH",
                    location,
                    data=FileBody(local, offset, length, progress),
                    headers={
                        **TUS_HEADERS,
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                    },
                )
                offset = int(answer.headers["Upload-Offset"])
                tries = 0
            except ClientError as exc:
                tries += 1
                if tries >= CHUNK_TRIES or not _is_retryable(exc):
                    raise
                # Ask where the master stands: some of the chunk may have been kept.
                head = self._send("HEAD", location, headers=TUS_HEADERS)
                offset = int(head.headers["Upload-Offset"])
            if progress is not None:
                progress.reset(size)
                progress.update(offset)
        forget_pending(key)
        return resumed_from

    def _resume(self, key: str) -> tuple[str | None, int]:
        """The location and offset of this file's upload begun earlier, if it is still
        open on the master (else ``None``: it ended, expired, or was never begun)."""
        location = find_pending(key)
        if location is None:
            return None, 0
        try:
            head = self._send("HEAD", location, headers=TUS_HEADERS)
        except (NotLoggedIn, MasterUnreachable):
            raise
        except ClientError:
            forget_pending(key)
            return None, 0
        return location, int(head.headers["Upload-Offset"])

    def open_zip(self, paths: list[str]) -> requests.Response:
        """A zip of the files and folders at ``paths``, streamed (``POST /api/zip``)."""
        form = {"paths": json.dumps(paths)}
        return self._send("POST", "/api/zip", data=form, stream=True)

    def open_file(self, remote: str) -> requests.Response:
        """The bytes of the file at ``remote``, streamed (close the response when done)."""
        return self._send("GET", "/api/files/" + _quoted(remote), stream=True)

    def download(
        self,
        remote: str,
        dest: Path,
        progress: Progress | None = None,
        *,
        parallel: int = PARALLEL,
        entry: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write the file at ``remote`` to ``dest`` (a temp file renamed when complete and
        matching its SHA-256); answer its entry.

        A file larger than a block is read from the nodes, ``parallel`` blocks at a time
        (``app.client.block_reads``), each block checked against its hash; what the
        nodes do not send comes through the master. A smaller one is the master's stream.
        ``entry``: its entry as the caller just listed or stat'ed it (else stat'ed here).
        """
        entry = entry or self.stat(remote)
        if entry["is_dir"]:
            raise ClientError(f"{entry['path']} is a folder", 400, "is_a_directory")
        if entry["size"] > BLOCK_SIZE:
            found = self.call("GET", "/api/blockmap/" + _quoted(entry["path"]))
            if found["hash"] != entry["hash"]:
                raise ClientError(f"{entry['path']} changed while it was being downloaded")
            read_range = functools.partial(self.read_range, entry["path"])
            write_blocks(found, dest, parallel, progress, read_range)
            return entry
        with self.open_file(entry["path"]) as response, PartFile(dest) as part:
            hasher = hashlib.sha256()
            for data in response.iter_content(CHUNK):
                hasher.update(data)
                write_all(part.fd, data)
                if progress is not None:
                    progress.update(len(data))
            if entry["hash"] and hasher.hexdigest() != entry["hash"]:
                raise ClientError(f"{entry['path']}: the bytes received do not match its hash")
            os.fsync(part.fd)
            part.keep()
        return entry

    def read_range(self, remote: str, start: int, stop: int) -> bytes:
        """Bytes ``[start, stop)`` of the file at ``remote``, read by the master (b"" if it
        does not answer them)."""
        headers = {"Range": f"bytes={start}-{stop - 1}"}
        with self._send("GET", "/api/files/" + _quoted(remote), headers=headers) as response:
            return response.content if response.status_code == 206 else b""


def _quoted(path: str) -> str:
    return quote(path.lstrip("/"), safe="/")


def _login_error(exc: ClientError, master_url: str) -> ClientError:
    if exc.status == 401 and not isinstance(exc, NotLoggedIn):
        return NotLoggedIn(
            f"{exc} (log in again: `mdbx login USERNAME` for {master_url})", 401, exc.code
        )
    return exc


def _is_retryable(exc: ClientError) -> bool:
    """A chunk cut off (the connection, a 5xx) or sent from the wrong offset."""
    if isinstance(exc, MasterUnreachable) or exc.code == "offset_mismatch":
        return True
    return exc.status is not None and exc.status >= 500
