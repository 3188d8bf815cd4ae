"""The client of storage nodes that masters and peer nodes use to write, copy, read and
delete blobs."""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any
from urllib.parse import urlencode

import requests
import urllib3

from app.cluster.agent import USER_AGENT
from app.cluster.blob_batches import BLOBS_HEADERS, encode_blobs
from app.cluster.links import LinkPool
from app.cluster.node_session import cluster_session
from app.cluster.streamed_copy import StreamedCopy
from app.errors import ServiceUnavailable, error_code_of
from app.primitives.offhub import off_hub
from app.security import TOKEN_PARAM, cluster_headers, listing_digest
from app.storage.digests import DIGEST_RE

log = logging.getLogger(__name__)


# A 10 MiB blob written and fsynced by a busy node, or forwarded down a chain, takes longer.
NODE_TIMEOUT = (3.05, 60.0)


# Reads are sent from a node's disk at once: one that does not connect or start within
# this is skipped for another replica, not waited for as a write is.
NODE_READ_TIMEOUT = (1.0, 3.0)
# Seconds a node has to take the connection of ``serves``, and again to answer it (before a
# redirect to it).
SERVES_TIMEOUT = 0.25


READ_CHUNK = 1024 * 1024


# Bodies in memory up to this size (a node's overlay reads them: FAST_UPLOAD_LIMIT) go
# over links; larger ones, and streams, over requests (a node's gunicorn loop takes them).
LINK_BODY_LIMIT = 1 << 20
# Blobs read up to this size are hashed on the hub (in microseconds).
HASH_IN_PLACE = 64 * 1024


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class NodeUnavailable(ServiceUnavailable):
    code = "node_unavailable"


class CorruptCopy(Exception):
    """A node sent bytes that do not hash to the address asked for."""


class MissingCopy(Exception):
    """A node answered that it holds no such blob (404 blob_not_found)."""


class NodeClient:
    """Writes, copies, reads and deletes blobs on nodes over one pooled session.

    With a cluster ``secret`` every call carries it: only members of the cluster call
    nodes this way, and only at URLs the cluster itself named. ``read_token`` (a
    master's) signs reads of private copies, which nodes serve to no one else in open
    mode.
    """

    def __init__(self, secret: str = "", read_token: Callable[[str], str] | None = None) -> None:
        self._http = cluster_session(100, secret)
        headers = {"User-Agent": USER_AGENT, **cluster_headers(secret)}
        self._headers = headers
        self._links = LinkPool(headers, NODE_TIMEOUT)
        self._read_links = LinkPool(headers, NODE_READ_TIMEOUT)
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
        if isinstance(body, bytes) and len(body) <= LINK_BODY_LIMIT:
            return self._put_on_link(node_url, params, body)
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

    def open_copy(
        self,
        node_url: str,
        name: str,
        length: int,
        digest: str | None,
        chain: Sequence[str] = (),
        kind: str = "file",
        private: bool = False,
    ) -> StreamedCopy:
        """Begin a ``put_blob`` of ``length`` bytes whose body the caller sends as it
        arrives (``StreamedCopy.send``), then ``finish``es: a chain forwarded while the
        blob is received (``app.cluster.streamed_copy``)."""
        params = {"name": name, "replicate": "0", "kind": kind}
        if digest is not None:
            params["hash"] = digest
        if private:
            params["private"] = "1"
        if chain:
            params["chain"] = ",".join(chain)
        return StreamedCopy(
            node_url, f"/upload?{urlencode(params)}", length, self._headers, NODE_TIMEOUT
        )

    def put_blobs(
        self,
        node_url: str,
        blobs: Sequence[tuple[str, str, bytes]],
        *,
        kind: str = "file",
        private: bool = False,
        node_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Store many small (digest, name, bytes) on a node in one request (``POST
        /blobs``), made durable together; the caller registers the copies (a master, or
        the node whose uploads they are: app.node.commits).

        An answer per blob, in order: ``{"hash", "size", "deduplicated"}``, or ``{"hash",
        "error": {"code", "message"}}`` for one the node refused (its bytes do not hash
        to its digest). Raises NodeUnavailable when the node stored none of them, or is
        not ``node_id`` (when given: the copies are registered under that id).
        """
        params = {"kind": kind, "private": "1" if private else "0"}
        body = encode_blobs(blobs)
        if len(body) <= LINK_BODY_LIMIT:
            # Answered on the node's fast path: a node's batch of copies to its peer.
            reply = self._call_on_link(
                node_url, "POST", f"/blobs?{urlencode(params)}", body, BLOBS_HEADERS
            )
        else:
            try:
                response = self._http.post(
                    f"{node_url}/blobs",
                    params=params,
                    data=body,
                    headers=BLOBS_HEADERS,
                    timeout=NODE_TIMEOUT,
                )
            except requests.RequestException as exc:
                raise NodeUnavailable(f"node {node_url} unreachable: {exc}") from exc
            if response.status_code != 200:
                raise NodeUnavailable(
                    f"node {node_url} answered {response.status_code}: {response.text[:200]}"
                )
            reply = response.json()
        if node_id is not None and reply.get("node") != node_id:
            raise NodeUnavailable(f"node {node_url} is not {node_id} (it is {reply.get('node')})")
        results = reply.get("results")
        if not isinstance(results, list) or len(results) != len(blobs):
            raise NodeUnavailable(f"node {node_url} answered no result for each of {len(blobs)}")
        return results

    def _put_on_link(self, node_url: str, params: dict[str, str], body: bytes) -> dict[str, Any]:
        """A small body's PUT over a kept-alive link (app.cluster.links), answered on the
        node's fast path: requests' own work was most of a forward's cost."""
        return self._call_on_link(node_url, "PUT", f"/upload?{urlencode(params)}", body)

    def _call_on_link(
        self,
        node_url: str,
        method: str,
        target: str,
        body: bytes,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A call over a kept-alive link; its JSON answer, or NodeUnavailable."""
        try:
            status, answer = self._links.call(node_url, method, target, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            raise NodeUnavailable(f"node {node_url} unreachable: {exc}") from exc
        if status != 200:
            text = answer[:200].decode(errors="replace")
            raise NodeUnavailable(f"node {node_url} answered {status}: {text}")
        try:
            reply = json.loads(answer)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            what = target.partition("?")[0]
            raise NodeUnavailable(f"node {node_url} sent no JSON object to {method} {what}")
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

    def digest_blobs(self, node_url: str, blocks: Sequence[str]) -> tuple[str, int]:
        """The SHA-256 and size of a node's blobs ``blocks`` laid end to end, hashed
        there (``POST /blobs/digest``); NodeUnavailable if it cannot tell (a block not
        there, the node down)."""
        url = f"{node_url}/blobs/digest"
        # Signed as a read of them all: in open mode too, private blobs are hashed only
        # for the master (app.node.access).
        listing = listing_digest(blocks)
        token = self._read_token(listing) if self._read_token is not None else None
        try:
            response = self._http.post(
                url,
                params=self._read_params(listing, token),
                json={"blocks": list(blocks)},
                timeout=NODE_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise NodeUnavailable(f"{url} unreachable: {exc}") from exc
        if response.status_code != 200:
            raise NodeUnavailable(f"{url} answered {response.status_code}: {response.text[:200]}")
        answer = response.json()
        return str(answer["hash"]), int(answer["size"])

    def delete_blob(self, node_url: str, digest: str) -> None:
        """Delete a node's copy; a copy already gone counts as deleted."""
        self._call("DELETE", f"{node_url}/blobs/{digest}", ok=(200, 404))

    def _retrieve(self, node_url: str, digest: str, token: str | None) -> requests.Response:
        """Start a node's ``GET /retrieve`` of ``digest`` (streamed; use it as a context)."""
        return self._http.get(
            f"{node_url}/retrieve",
            params=self._read_params(digest, token),
            timeout=NODE_READ_TIMEOUT,
            stream=True,
        )

    def iter_blob(self, node_url: str, digest: str, token: str | None = None) -> Iterator[bytes]:
        """Stream a blob's bytes from a node (unchecked: the caller hashes what it writes)."""
        try:
            with self._retrieve(node_url, digest, token) as response:
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
            if max_bytes <= LINK_BODY_LIMIT:
                # Over a kept-alive link: requests' own work was most of the master's
                # cost of a small blob read (a zip of many small files is thousands).
                target = f"/retrieve?{urlencode(self._read_params(digest, token))}"
                status, data = self._read_links.call(node_url, "GET", target, b"")
            else:
                with self._retrieve(node_url, digest, token) as response:
                    status = response.status_code
                    # One read of the whole blob (and a byte more, to see a longer
                    # answer): read in pieces and joined, it was copied twice more.
                    data = response.raw.read(max_bytes + 1, decode_content=False)
        except (OSError, urllib3.exceptions.HTTPError, http.client.HTTPException) as exc:
            # (requests' errors are OSErrors)
            log.warning("node %s unreadable for %s: %s", node_url, digest, type(exc).__name__)
            return None
        if status == 404 and error_code_of(data) == "blob_not_found":
            raise MissingCopy(f"node {node_url} holds no blob {digest}")
        if status != 200:
            log.warning("node %s answered %d for %s", node_url, status, digest)
            return None
        if len(data) > max_bytes:  # larger than registered: not our blob
            log.warning("node %s sent more than %d bytes for %s", node_url, max_bytes, digest)
            return None
        # On gevent's thread pool: hashlib lets go of the GIL, so a master hashes this
        # block on the other core while its hub sends the one before. A small blob is
        # hashed in place: the trip to the pool would cost more than the hash.
        hashed = sha256_hex(data) if len(data) <= HASH_IN_PLACE else off_hub(sha256_hex, data)
        if DIGEST_RE.fullmatch(digest) and hashed != digest:
            raise CorruptCopy(f"node {node_url} sent bytes that do not match {digest}")
        return data

    def serves(self, node_url: str, timeout: float = SERVES_TIMEOUT) -> bool:
        """Whether the node answers a request now, within ``timeout`` to connect and again
        to answer (any status: a bare ``GET /retrieve``, 400 at once from its fast path).
        A node killed a moment ago, before its master can know, may still take a TCP
        connection (its kernel finishes the handshake until the process's sockets are
        closed), and a client sent there would then be reset: only an answer counts."""
        try:
            # A connection of its own, closed after: one kept in the pool would add an
            # idle socket per node and worker, left half-closed by a node that dies.
            self._http.get(
                f"{node_url}/retrieve", headers={"Connection": "close"}, timeout=(timeout, timeout)
            ).close()
        except requests.RequestException:
            return False
        return True

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
        self._links.close()
        self._read_links.close()
