"""HTTP clients around storage nodes: a node's client of its masters, and the client of
nodes that masters and peer nodes use to write, copy, read and delete blobs."""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from app.errors import ServiceUnavailable, error_code_of
from app.gevent_worker import off_hub
from app.metadata.catalog import BlobEntry
from app.security import TOKEN_PARAM, cluster_headers
from app.storage import DIGEST_RE

log = logging.getLogger(__name__)

# (connect, read) seconds: a master that is down refuses at once; one that hangs must not
# hold an upload for longer than this.
MASTER_TIMEOUT = (3.05, 10.0)
# A 10 MiB blob written and fsynced by a busy node, or forwarded down a chain, takes longer.
NODE_TIMEOUT = (3.05, 60.0)
# Reads are sent from a node's disk at once: one that does not connect or start within
# this is skipped for another replica, not waited for as a write is.
NODE_READ_TIMEOUT = (1.0, 3.0)
READ_CHUNK = 1024 * 1024
SEND_BLOCK = 1024 * 1024


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class NewCopy:
    """A copy a node just stored, as it registers it with the master."""

    hash: str
    name: str
    size: int
    kind: str
    want_peers: bool  # ask which live peers should get copies for the blob to reach R
    private: bool = False  # stored as a private copy (see app.metadata.visibility)


class MasterUnavailable(ServiceUnavailable):
    code = "master_unavailable"


class NotOnMaster(MasterUnavailable):
    """The master answered 404: it does not know what was asked for."""


class NodeUnavailable(ServiceUnavailable):
    code = "node_unavailable"


class CorruptCopy(Exception):
    """A node sent bytes that do not hash to the address asked for."""


class MissingCopy(Exception):
    """A node answered that it holds no such blob (404 blob_not_found)."""


class _LargeBlockAdapter(HTTPAdapter):
    """Sends file bodies in 1 MiB pieces (urllib3's default is 16 KiB: a 4 MiB blob
    forwarded down a chain took 256 sends, each a trip through the gevent hub)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["blocksize"] = SEND_BLOCK
        super().init_poolmanager(*args, **kwargs)


def _session(pool: int, secret: str) -> requests.Session:
    """A pooled session whose every call carries the cluster secret, if there is one."""
    session = requests.Session()
    # Cluster calls go straight to the other role: no proxy or netrc from the
    # environment (and no reading of it at every call, 5% of a node's registrations).
    session.trust_env = False
    session.headers.update(cluster_headers(secret))
    session.mount("http://", _LargeBlockAdapter(pool_connections=16, pool_maxsize=pool))
    session.mount("https://", _LargeBlockAdapter(pool_connections=16, pool_maxsize=pool))
    return session


def _master_pool(size: int, headers: dict[str, str]) -> urllib3.PoolManager:
    """Connections to the masters: urllib3 (requests' own transport) without the requests
    layer, whose per-call work was a third of a node's time on its registrations."""
    return urllib3.PoolManager(
        num_pools=16,
        maxsize=size,
        headers=headers,
        timeout=urllib3.Timeout(connect=MASTER_TIMEOUT[0], read=MASTER_TIMEOUT[1]),
        retries=False,
    )


class _MasterLink:
    """One kept-alive connection to a master, used by one caller at a time.

    A worker registers one batch at a time (its uploads' group commit), so a single
    connection carries all its registrations. Plain http.client: urllib3's pool (its
    key normalisation, liveness poll and header containers) was a third of a node's
    CPU on weed-style writes, where every upload is a registration of its own.
    """

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._headers = headers
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """POST ``body``; return the status and the answer's bytes.

        A kept-alive connection the master closed meanwhile fails at once: the call
        is made again on a new one (registrations are idempotent).
        """
        with self._lock:
            while True:
                reused = self._conn is not None
                conn = self._conn or self._connect()
                try:
                    conn.request("POST", self._prefix + path, body, self._headers)
                    response = conn.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException):
                    self.close()
                    if reused:
                        continue
                    raise
                if response.will_close:
                    self.close()
                else:
                    self._conn = conn
                return response.status, data

    def _connect(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = kind(self._netloc, timeout=MASTER_TIMEOUT[0])
        conn.connect()
        assert conn.sock is not None
        conn.sock.settimeout(MASTER_TIMEOUT[1])
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class MasterClient:
    """A node's link to its masters (one, or several sharing one database).

    Registrations go to the first master that answers; heartbeats go to every master,
    so that each one knows this node is alive.
    """

    def __init__(
        self, master_urls: Sequence[str], node_id: str, public_url: str, secret: str = ""
    ) -> None:
        self.master_urls = [url.rstrip("/") for url in master_urls]
        self.node_id = node_id
        self.public_url = public_url
        headers = {"Content-Type": "application/json", **cluster_headers(secret)}
        self._http = _master_pool(32, headers)
        # Registrations on connections of their own: the master answers them on its fast
        # path, and a connection that once carried another call (a heartbeat) stays with
        # gunicorn's slower loop for good.
        self._registrations = {url: _MasterLink(url, headers) for url in self.master_urls}

    def close(self) -> None:
        """Close the connections kept alive to the masters."""
        for link in self._registrations.values():
            link.close()
        self._http.clear()

    @property
    def master_url(self) -> str:
        return ",".join(self.master_urls)

    def register_copies(self, copies: Sequence[NewCopy]) -> list[dict[str, Any]]:
        """Register a batch of new copies in one call.

        Returns one answer per copy, in order, with ``replicate_to`` for those that
        wanted peers.
        """
        payload = {
            "node": self.node_id,
            "url": self.public_url,
            "copies": [
                {
                    "hash": copy.hash,
                    "name": copy.name,
                    "size": copy.size,
                    "kind": copy.kind,
                    "want_peers": copy.want_peers,
                    # Only when true: a node of an earlier release says nothing.
                    **({"private": True} if copy.private else {}),
                }
                for copy in copies
            ],
        }
        reply = self._call_any("/nodes/register", payload, registration=True)
        results: list[dict[str, Any]] = reply["results"]
        return results

    def report_inventory(
        self,
        entries: Sequence[BlobEntry],
        sync_started: float | None = None,
        complete: bool = False,
    ) -> dict[str, Any]:
        """Confirm a batch of held copies; ``complete`` ends a full sync begun at ``sync_started``.

        The master forgets copies of this node that a complete sync did not confirm,
        answers in ``drop`` the hashes deleted meanwhile, and in ``private`` those it
        holds to be private copies here.
        """
        reply: dict[str, Any] = self._call_any(
            "/nodes/inventory",
            {
                "node": self.node_id,
                "url": self.public_url,
                "files": [
                    {
                        "hash": e.hash,
                        "name": e.name,
                        "size": e.size,
                        "kind": e.kind,
                        **({"private": True} if e.private else {}),
                    }
                    for e in entries
                ],
                "sync_started": sync_started,
                "complete": complete,
            },
        )
        return reply

    def heartbeat(self, stats: dict[str, int], deleted: Sequence[str]) -> dict[str, Any]:
        """Beat to every master; return their answers merged: ``delete`` lists the hashes
        any of them wants deleted here, the other keys (the node list, the signing key of
        open mode) are the last answer's (the masters share one catalogue)."""
        payload = {"node": self.node_id, "url": self.public_url, **stats, "deleted": list(deleted)}
        to_delete: set[str] = set()
        merged: dict[str, Any] = {}
        for url in self.master_urls:
            try:
                reply = self._call(url, "/nodes/heartbeat", payload)
            except MasterUnavailable as exc:
                log.warning("heartbeat not delivered: %s", exc.message)
                continue
            merged.update(reply)
            to_delete.update(h for h in reply.get("delete", []) if isinstance(h, str))
        if not merged:
            raise MasterUnavailable("no master answered the heartbeat")
        return {**merged, "delete": sorted(to_delete)}

    def node_urls(self) -> list[str]:
        """The URL of every node the masters list (``GET /nodes``)."""
        listed = self._call_any("/nodes", None)
        if not isinstance(listed, list):
            raise MasterUnavailable("the master's node list is not a list")
        return [n["url"] for n in listed if isinstance(n, dict) and isinstance(n.get("url"), str)]

    def report_corrupt(self, digest: str) -> None:
        """Tell the masters this copy failed its check, or vanished, and is gone from here."""
        self.report_lost([digest])

    def report_lost(self, digests: Sequence[str]) -> list[str]:
        """Tell the masters these copies are not on this node (corrupt, deleted, lost, or
        asked for and not found); return those they had placed here and now forget."""
        reply = self._call_any("/nodes/bad-copy", {"node": self.node_id, "hashes": list(digests)})
        forgotten = reply.get("forgotten", [])
        return [h for h in forgotten if isinstance(h, str)] if isinstance(forgotten, list) else []

    def file_blocks(self, file_hash: str) -> dict[str, Any] | None:
        """The master's block map of a file (``GET /files/<hash>/blocks``); None when the
        masters do not know the file."""
        try:
            blocks: dict[str, Any] = self._call_any(f"/files/{file_hash}/blocks", None)
        except NotOnMaster:
            return None
        return blocks

    def _call_any(
        self, path: str, payload: dict[str, Any] | None, *, registration: bool = False
    ) -> Any:
        """``_call`` on the first master that answers."""
        last: MasterUnavailable | None = None
        for url in self.master_urls:
            try:
                return self._call(url, path, payload, registration=registration)
            except NotOnMaster:
                raise  # the masters share one catalogue: the next would say the same
            except MasterUnavailable as exc:
                last = exc
        raise last or MasterUnavailable("no master configured")

    def _call(
        self,
        base: str,
        path: str,
        payload: dict[str, Any] | None,
        *,
        registration: bool = False,
    ) -> Any:
        """POST ``payload`` as JSON (None: GET) and return the master's JSON answer."""
        data = json.dumps(payload).encode() if payload is not None else None
        try:
            if registration and data is not None:
                status, answer = self._registrations[base].post(path, data)
            else:
                method = "GET" if data is None else "POST"
                response = self._http.request(method, base + path, body=data)
                status, answer = response.status, response.data
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            raise MasterUnavailable(f"master at {base} unreachable: {exc}") from exc
        if status == 404:
            raise NotOnMaster(f"master at {base} knows no {path}")
        if status >= 500:
            raise MasterUnavailable(f"master at {base} answered {status} to {path}")
        if status >= 400:
            # A refusal is not an outage: log it, it will not get better by retrying.
            text = answer[:500].decode(errors="replace")
            log.error("master refused %s: %s %s", path, status, text)
            raise MasterUnavailable(f"master at {base} refused {path} with {status}")
        try:
            body = json.loads(answer)
        except ValueError as exc:
            raise MasterUnavailable(f"master at {base} sent no JSON to {path}") from exc
        return body


class NodeClient:
    """Writes, copies, reads and deletes blobs on nodes over one pooled session.

    With a cluster ``secret`` every call carries it: only members of the cluster call
    nodes this way, and only at URLs the cluster itself named. ``read_token`` (a
    master's) signs reads of private copies, which nodes serve to no one else in open
    mode.
    """

    def __init__(self, secret: str = "", read_token: Callable[[str], str] | None = None) -> None:
        self._http = _session(100, secret)
        self._read_token = read_token

    def put_blob(
        self,
        node_url: str,
        name: str,
        body: bytes | IO[bytes],
        digest: str,
        chain: Sequence[str] = (),
        register: bool = True,
        kind: str = "file",
        private: bool = False,
    ) -> dict[str, Any]:
        """Store a blob on a node (a raw PUT), which checks it against ``digest``.

        The node replicates no further unless ``chain`` lists the next nodes, which it
        then forwards to, in order, before answering (chain replication). With
        ``register=False`` the caller (a master) registers the copies itself, in one
        transaction, instead of each node registering its own. ``private``: the copy is
        served only through signed URLs (unless the node holds a public one already).
        """
        params = {"hash": digest, "name": name, "replicate": "0", "kind": kind}
        if not register:
            params["register"] = "0"
        if private:
            params["private"] = "1"
        if chain:
            params["chain"] = ",".join(chain)
        try:
            response = self._http.put(
                f"{node_url}/upload", params=params, data=body, timeout=NODE_TIMEOUT
            )
        except requests.RequestException as exc:
            raise NodeUnavailable(f"node {node_url} unreachable: {exc}") from exc
        if response.status_code != 200:
            raise NodeUnavailable(
                f"node {node_url} answered {response.status_code}: {response.text[:200]}"
            )
        reply: dict[str, Any] = response.json()
        return reply

    def copy_blob(
        self,
        target_url: str,
        digest: str,
        source_url: str,
        name: str,
        kind: str = "file",
        *,
        private: bool = False,
    ) -> None:
        """Have ``target_url`` pull the blob from ``source_url`` and keep it (repair).

        A ``private`` copy is pulled with a read token and kept private. Raises
        CorruptCopy when the target found that the source's bytes do not match
        ``digest``, so the caller can report that copy instead of pulling it again.
        """
        url = f"{target_url}/replicate"
        payload: dict[str, Any] = {"hash": digest, "source": source_url, "name": name, "kind": kind}
        if private:
            payload["private"] = True
            if self._read_token is not None:
                payload["token"] = self._read_token(digest)
        try:
            response = self._http.post(url, json=payload, timeout=NODE_TIMEOUT)
        except requests.RequestException as exc:
            raise NodeUnavailable(f"{url} unreachable: {exc}") from exc
        if response.status_code == 400 and error_code_of(response) == "hash_mismatch":
            raise CorruptCopy(f"node {source_url} sent bytes that do not match {digest}")
        if response.status_code != 200:
            raise NodeUnavailable(f"{url} answered {response.status_code}: {response.text[:200]}")

    def delete_blob(self, node_url: str, digest: str) -> None:
        """Delete a node's copy; a copy already gone counts as deleted."""
        self._call("DELETE", f"{node_url}/blobs/{digest}", ok=(200, 404))

    def iter_blob(self, node_url: str, digest: str, token: str | None = None) -> Iterator[bytes]:
        """Stream a blob's bytes from a node (unchecked: the caller hashes what it writes)."""
        try:
            with self._http.get(
                f"{node_url}/retrieve",
                params=self._read_params(digest, token),
                timeout=NODE_READ_TIMEOUT,
                stream=True,
            ) as response:
                if response.status_code != 200:
                    raise NodeUnavailable(f"node {node_url} answered {response.status_code}")
                yield from response.iter_content(READ_CHUNK)
        except requests.RequestException as exc:
            raise NodeUnavailable(f"node {node_url} unreadable: {exc}") from exc

    def fetch_blob(
        self, node_url: str, digest: str, max_bytes: int, *, signed: bool = False
    ) -> bytes | None:
        """Read a whole blob and check it against its address; ``signed``: with a read
        token (a private copy).

        Returns None (logged) when the node cannot serve it; raises CorruptCopy when the
        node served bytes that are not the blob, MissingCopy when it has none, so the
        caller can forget that copy.
        """
        token = self._read_token(digest) if signed and self._read_token is not None else None
        try:
            with self._http.get(
                f"{node_url}/retrieve",
                params=self._read_params(digest, token),
                timeout=NODE_READ_TIMEOUT,
                stream=True,
            ) as response:
                if response.status_code == 404 and error_code_of(response) == "blob_not_found":
                    raise MissingCopy(f"node {node_url} holds no blob {digest}")
                if response.status_code != 200:
                    log.warning(
                        "node %s answered %d for %s", node_url, response.status_code, digest
                    )
                    return None
                # One read of the whole blob (and a byte more, to see a longer answer):
                # read in pieces and joined, it was copied twice more.
                data = response.raw.read(max_bytes + 1, decode_content=False)
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            log.warning("node %s unreadable for %s: %s", node_url, digest, type(exc).__name__)
            return None
        if len(data) > max_bytes:  # larger than registered: not our blob
            log.warning("node %s sent more than %d bytes for %s", node_url, max_bytes, digest)
            return None
        # On gevent's thread pool: hashlib lets go of the GIL, so a master hashes this
        # block on the other core while its hub sends the one before.
        if DIGEST_RE.fullmatch(digest) and off_hub(sha256_hex, data) != digest:
            raise CorruptCopy(f"node {node_url} sent bytes that do not match {digest}")
        return data

    def answers(self, node_url: str, timeout: tuple[float, float]) -> bool | None:
        """Whether the node answers ``GET /health`` within ``timeout`` (to connect, then
        for the first byte), whatever its status: True, it serves requests; False, it
        hangs; None, the connection failed at once (refused: the node is going down, as
        its heartbeats will tell, and calls to it fail fast meanwhile)."""
        try:
            self._http.get(f"{node_url}/health", timeout=timeout).close()
        except requests.Timeout:
            return False
        except requests.RequestException:
            return None
        return True

    def has_blob(self, node_url: str, digest: str, size: int) -> bool:
        """Tell whether a node serves the blob, at its size (``HEAD /retrieve``): what a
        node's inventory says it holds, checked at the node's own URL.

        Asked without a token, then with one if the node said it has none: a private
        copy is as absent to an unsigned read, and a node that has not heard the open
        mode's key yet (its first inventory's answer brings it) can check no token.
        """
        tokens = [None, self._read_token(digest) if self._read_token is not None else None]
        for token in dict.fromkeys(tokens):
            try:
                response = self._http.head(
                    f"{node_url}/retrieve",
                    params=self._read_params(digest, token),
                    timeout=NODE_READ_TIMEOUT,
                )
            except requests.RequestException as exc:
                log.warning("node %s unreachable for %s: %s", node_url, digest, type(exc).__name__)
                return False
            if response.status_code != 404:
                break
        return response.status_code == 200 and response.headers.get("Content-Length") == str(size)

    @staticmethod
    def _read_params(digest: str, token: str | None) -> dict[str, str]:
        return {"hash": digest, TOKEN_PARAM: token} if token else {"hash": digest}

    def _call(self, method: str, url: str, ok: tuple[int, ...] = (200,), **kwargs: Any) -> None:
        try:
            response = self._http.request(method, url, timeout=NODE_TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise NodeUnavailable(f"{url} unreachable: {exc}") from exc
        if response.status_code not in ok:
            raise NodeUnavailable(f"{url} answered {response.status_code}: {response.text[:200]}")

    def close(self) -> None:
        self._http.close()
