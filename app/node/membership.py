"""What a node knows of its cluster: the nodes it may fetch from and forward to, and the
key that signs blob URLs in open mode.

Both come in the masters' answers to the node's heartbeats and inventory reports, which
one worker hears (the one running the sync loop). They are kept in the node's catalogue
database, where every worker reads them (at most every ``REREAD`` seconds): a restarted
node knows them before its first heartbeat, and one whose masters are down keeps the
last ones it heard. A URL not in the list is asked about once more, at a master, before
it is refused: a node that joined a moment ago is in the master's list before the next
answer brings it here. A node that never heard a list (new, with its masters down)
fetches from and forwards to no one; nothing asks it to, since the masters hand out the
URLs it would be given.

In secured mode the key is the cluster secret, which every role has.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from app.cluster.master_client import MasterUnavailable
from app.errors import InvalidField
from app.metadata.settings import SettingStore

log = logging.getLogger(__name__)

SIGNING_KEY = "signing_key"
NODE_URLS = "node_urls"
# How stale a worker's copy of the settings may be (the sync loop beats every 2 s).
REREAD = 2.0
# At most this often per worker, an unknown URL makes it ask a master for the list.
REFRESH_EVERY = 1.0


def base_url(value: str) -> str | None:
    """``value`` spelt as a node's base URL is (``scheme://host:port``, plus the path a
    node behind a proxy may have), or None if it carries credentials, a query or a
    fragment, or is no http(s) URL."""
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        return None
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or "?" in value  # a query or a fragment, even an empty one
        or "#" in value
    ):
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


class Membership:
    """The signing key and the nodes' URLs, as the masters last told this node."""

    def __init__(
        self,
        settings: SettingStore,
        fetch_node_urls: Callable[[], list[str]],
        *,
        secret: str = "",
    ) -> None:
        self._settings = settings
        self._fetch_node_urls = fetch_node_urls
        self._secret = secret
        self._lock = threading.Lock()
        self._read_at = -REREAD
        self._refreshed_at = -REFRESH_EVERY
        self._key: str | None = None
        self._urls: frozenset[str] = frozenset()

    def learn(self, answer: Mapping[str, Any]) -> None:
        """Keep what a master's answer says of the cluster (``nodes``, ``signing_key``)."""
        nodes = answer.get("nodes")
        if isinstance(nodes, list) and all(isinstance(url, str) for url in nodes):
            self._store_urls(nodes)
        key = answer.get("signing_key")
        if isinstance(key, str) and key:
            self._settings.put(SIGNING_KEY, key)
            self._read_at = -REREAD

    def signing_key(self) -> str | None:
        """The key that signs read URLs here: the cluster secret, else the open-mode key
        the masters sent (None before one was heard)."""
        if self._secret:
            return self._secret
        self._reread()
        return self._key

    def node_url(self, value: Any, field: str) -> str:
        """``value`` as the base URL of a node the master lists; 400 invalid_field if not."""
        url = base_url(value) if isinstance(value, str) else None
        if url is None:
            raise InvalidField(
                field, f"'{field}' must be a node's base URL (http://host:port), nothing more"
            )
        self._reread()
        if url not in self._urls and self._refresh():
            self._reread()
        if url not in self._urls:
            raise InvalidField(field, f"'{field}': {url} is not a node the master lists")
        return url

    def _store_urls(self, urls: list[str]) -> None:
        known = sorted({url for url in map(base_url, urls) if url is not None})
        self._settings.put(NODE_URLS, json.dumps(known))
        self._read_at = -REREAD

    def _refresh(self) -> bool:
        """Ask a master for the node list (at most every REFRESH_EVERY s); True if done."""
        now = time.monotonic()
        with self._lock:
            if now - self._refreshed_at < REFRESH_EVERY:
                return False
            self._refreshed_at = now
        try:
            urls = self._fetch_node_urls()
        except MasterUnavailable as exc:
            log.warning("node list not refreshed: %s", exc.message)
            return False
        self._store_urls(urls)
        return True

    def _reread(self) -> None:
        now = time.monotonic()
        if now - self._read_at < REREAD:
            return
        key = self._settings.get(SIGNING_KEY)
        listed = self._settings.get(NODE_URLS)
        self._key = key
        self._urls = frozenset(json.loads(listed)) if listed else frozenset()
        # Last: a concurrent read (another thread, or a greenlet while this one waited on
        # the database) that sees the new time must also see what was read, not the None
        # of before the first read (a private read answered 503 signing_key_unknown).
        self._read_at = now
