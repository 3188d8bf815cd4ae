"""Kept-alive plain ``http.client`` connections for the cluster's hottest calls.

A node's registrations with its master and its copies of small uploads to its peers are
made once per upload batch or per upload, many times a second: requests' per-call work
(and urllib3's pool, its key normalisation, liveness poll and header containers) was a
third of a node's CPU on its registrations, and half of what a node spent per upload
forwarding small copies to a peer (bench/PROFILE-22.md). A link is one connection used
by one caller at a time; a pool keeps idle links per base URL for concurrent callers.
Links carry only the calls the other role answers on its fast path, so that their
connections stay on it (a connection that once carried another call stays with
gunicorn's slower loop for good).
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

from app.cluster import request_ids

# Idle links kept per base URL: as many as a worker's concurrent uploads copy at once.
MAX_IDLE = 32


class HttpLink:
    """One kept-alive connection to ``base_url``, used by one caller at a time."""

    def __init__(
        self, base_url: str, headers: Mapping[str, str], timeout: tuple[float, float]
    ) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self._headers = dict(headers)
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def call(
        self, method: str, target: str, body: bytes, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Send ``body`` (with ``headers`` beside the link's own); return the status and
        the answer's bytes. Raises OSError or
        http.client.HTTPException when the other end cannot be reached.

        A kept-alive connection the other end closed meanwhile fails at once: the call
        is made again on a new one (so only idempotent calls go over links).
        """
        sent = {**self._headers, **headers} if headers else self._headers
        request_id = request_ids.current.get()
        if request_id:
            sent = {**sent, request_ids.HEADER: request_id}
        with self._lock:
            while True:
                reused = self._conn is not None
                conn = self._conn or self._connect()
                try:
                    conn.request(method, self._prefix + target, body, sent)
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
        conn = kind(self._netloc, timeout=self._timeout[0])
        conn.connect()
        assert conn.sock is not None
        conn.sock.settimeout(self._timeout[1])
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class LinkPool:
    """Links to any number of base URLs, each lent to one caller at a time."""

    def __init__(self, headers: Mapping[str, str], timeout: tuple[float, float]) -> None:
        self._headers = dict(headers)
        self._timeout = timeout
        self._idle: dict[str, list[HttpLink]] = {}
        self._lock = threading.Lock()

    def call(
        self,
        base_url: str,
        method: str,
        target: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """``HttpLink.call`` on an idle link to ``base_url``, or a new one."""
        with self._lock:
            idle = self._idle.setdefault(base_url, [])
            link = idle.pop() if idle else None
        if link is None:
            link = HttpLink(base_url, self._headers, self._timeout)
        try:
            answer = link.call(method, target, body, headers)
        except BaseException:
            link.close()
            raise
        with self._lock:
            idle = self._idle.setdefault(base_url, [])
            if len(idle) < MAX_IDLE:
                idle.append(link)
                link = None
        if link is not None:
            link.close()
        return answer

    def close(self) -> None:
        """Close every idle link."""
        with self._lock:
            links = [link for idle in self._idle.values() for link in idle]
            self._idle.clear()
        for link in links:
            link.close()
