"""A copy of a blob PUT to a peer node while the blob is still arriving here: a chain
forwarded as the bytes come, not once they are durable (issue #21).

Forwarded after its own commit, a block went down a chain of R nodes in R turns, each
receiving, writing and syncing it while the others waited (bench/PROFILE-21.md). Sent on
as it is received, every node of the chain writes and syncs it at the same time, and the
first answers once its own copy is durable and the next one's answer is in.

A copy that fails (the peer down, slow past the timeout, or refusing) fails alone: the
upload goes on without it, and the master's repair brings the blob to R copies later,
as for a copy forwarded after.
"""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from app.cluster import request_ids

log = logging.getLogger(__name__)


class StreamedCopy:
    """One ``PUT`` of ``length`` bytes to ``base_url + target``, its body given piece by
    piece (``send``), its answer read at the end (``finish``)."""

    def __init__(
        self,
        base_url: str,
        target: str,
        length: int,
        headers: Mapping[str, str],
        timeout: tuple[float, float],
    ) -> None:
        parts = urlsplit(base_url)
        kind = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        self.where = base_url
        self.problem: str | None = None
        self._conn = kind(parts.netloc, timeout=timeout[0])
        try:
            self._conn.connect()
            assert self._conn.sock is not None
            self._conn.sock.settimeout(timeout[1])
            self._conn.putrequest("PUT", parts.path.rstrip("/") + target, skip_accept_encoding=True)
            sent = dict(headers)
            if request_id := request_ids.current.get():
                sent[request_ids.HEADER] = request_id
            for name, value in {**sent, "Content-Length": str(length)}.items():
                self._conn.putheader(name, value)
            self._conn.endheaders()
        except (OSError, http.client.HTTPException) as exc:
            self._fail(exc)

    def send(self, chunk: bytes) -> None:
        """Pass on the next piece of the body (nothing once the copy failed)."""
        if self.problem is not None:
            return
        try:
            self._conn.send(chunk)
        except (OSError, http.client.HTTPException) as exc:
            self._fail(exc)

    def finish(self) -> dict[str, Any] | None:
        """The peer's answer once it holds its copy durably; None if the copy failed."""
        if self.problem is None:
            try:
                response = self._conn.getresponse()
                body = response.read()
                if response.status == 200:
                    answer = json.loads(body)
                    if isinstance(answer, dict):
                        self.abandon()
                        return answer
                self.problem = f"answered {response.status}: {body[:200]!r}"
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.problem = str(exc)
        log.warning("copy to %s failed: %s", self.where, self.problem)
        self.abandon()
        return None

    def abandon(self) -> None:
        """Close the connection (a body cut short: the peer keeps nothing of it)."""
        self._conn.close()

    def _fail(self, exc: BaseException) -> None:
        self.problem = f"{type(exc).__name__}: {exc}"
        self.abandon()
