"""A node's end of its stream to a master (``GET /nodes/<id>/stream``): one request held
open, which the master answers with a byte a second (``app.master.streams``). The
node's death closes it, which is how the master knows at once."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable
from urllib.parse import quote, urlsplit

from app.cluster.agent import USER_AGENT
from app.cluster.master_client import MasterUnavailable
from app.security import cluster_headers

CONNECT_TIMEOUT = 3.05
# The master sends a byte every second: silence this long means it hangs (or a proxy
# holds the bytes back), and the stream is opened again.
SILENCE = 5.0


class MasterStream:
    """One node's stream to one master, opened again and again by ``hold``."""

    def __init__(self, master_url: str, node_id: str, public_url: str, secret: str = "") -> None:
        parts = urlsplit(master_url.rstrip("/"))
        self.master_url = master_url.rstrip("/")
        self._https = parts.scheme == "https"
        self._netloc = parts.netloc
        self._target = (
            f"{parts.path}/nodes/{quote(node_id, safe='')}/stream?url={quote(public_url, safe='')}"
        )
        self._headers = {"User-Agent": USER_AGENT, **cluster_headers(secret)}
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None

    def hold(self, on_open: Callable[[], None] | None = None) -> None:
        """Open the stream and read it until the master ends it; raise MasterUnavailable
        when it cannot be opened or breaks. Returns when the master ended it (it is
        stopping) or ``close`` was called."""
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = kind(self._netloc, timeout=CONNECT_TIMEOUT)
        with self._lock:
            self._conn = conn
        try:
            conn.request("GET", self._target, headers=self._headers)
            response = conn.getresponse()
            if response.status != 200:
                text = response.read(500).decode(errors="replace")
                raise MasterUnavailable(
                    f"master at {self.master_url} refused the stream: {response.status} {text}"
                )
            if conn.sock is not None:
                conn.sock.settimeout(SILENCE)
            if on_open is not None:
                on_open()
            while response.read1(64):
                pass
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # ValueError: read on a connection ``close`` closed meanwhile.
            raise MasterUnavailable(f"stream to {self.master_url} broke: {exc!r}") from exc
        finally:
            self.close()

    def close(self) -> None:
        """End the stream (from another thread: the node is stopping)."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
