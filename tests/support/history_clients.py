"""Clients that write, read, overwrite, delete and list a shared set of names in one
account through ``/api/``, recording each operation for ``tests.support.history``.

Bounded: each client stops at ``seconds`` or after ``max_ops`` operations. A failed call
(an error answer, a broken connection, a timeout) is recorded unacknowledged, and the
client pauses a little so that a dead master is not hammered.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time

import requests

from tests.support.history import (
    ABSENT,
    DELETE,
    LIST,
    READ,
    WRITE,
    Op,
    Recorder,
    content,
    token_of,
)

TIMEOUT = 10
FOLDER = "/history"
WEIGHTS = {WRITE: 35, READ: 40, DELETE: 10, LIST: 15}


class HistoryClients:
    def __init__(
        self, master_url: str, headers: dict[str, str], names: int = 20, clients: int = 8
    ) -> None:
        self.master = master_url
        self.headers = headers
        self.names = [f"n{i:02d}.txt" for i in range(names)]
        self.clients = clients
        self.recorder = Recorder()

    def run(self, seconds: float, max_ops: int = 2_000) -> None:
        """Run the clients for ``seconds`` (at most ``max_ops`` each); return when done."""
        end = time.monotonic() + seconds
        threads = [
            threading.Thread(target=self._client, args=(n, end, max_ops))
            for n in range(self.clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 60)
            assert not thread.is_alive()

    def final_reads(self) -> None:
        """Read every name once, after the faults: the reads that find lost writes."""
        for name in self.names:
            self._read(0, name, final=True)
        self._list(0)

    def _client(self, client: int, end: float, max_ops: int) -> None:
        rng = random.Random(client)
        kinds, weights = list(WEIGHTS), list(WEIGHTS.values())
        for seq in range(max_ops):
            if time.monotonic() >= end:
                return
            kind = rng.choices(kinds, weights)[0]
            name = rng.choice(self.names)
            if kind == WRITE:
                ok = self._write(client, name, f"{client}:{seq}")
            elif kind == READ:
                ok = self._read(client, name)
            elif kind == DELETE:
                ok = self._delete(client, name)
            else:
                ok = self._list(client)
            if not ok:
                time.sleep(0.05)

    def _url(self, name: str) -> str:
        return f"{self.master}/api/files{FOLDER}/{name}"

    def _call(self, method: str, url: str, **kwargs) -> requests.Response | None:
        try:
            return requests.request(method, url, headers=self.headers, timeout=TIMEOUT, **kwargs)
        except requests.RequestException:
            return None

    def _record(self, kind, name, start, ok, value=None, seen=None, client=0, final=False):
        end = self.recorder.now()
        self.recorder.add(Op(kind, name, start, end, ok, value, seen, client, final))
        return ok

    def _write(self, client: int, name: str, token: str) -> bool:
        start = self.recorder.now()
        answer = self._call("PUT", self._url(name), data=content(name, token))
        ok = answer is not None and answer.status_code == 200
        return self._record(WRITE, name, start, ok, token, client=client)

    def _read(self, client: int, name: str, final: bool = False) -> bool:
        start = self.recorder.now()
        answer = self._call("GET", self._url(name))
        value = None
        if answer is not None and answer.status_code == 200:
            # Bytes no write sent are recorded as such: the checker calls them phantom.
            value = token_of(name, answer.content)
            if value is None:
                value = "unknown-bytes:" + hashlib.sha256(answer.content).hexdigest()[:16]
        elif answer is not None and answer.status_code == 404:
            value = ABSENT
        return self._record(READ, name, start, value is not None, value, client=client, final=final)

    def _delete(self, client: int, name: str) -> bool:
        start = self.recorder.now()
        answer = self._call("DELETE", self._url(name))
        # 404: nothing there, which is what a delete leaves.
        ok = answer is not None and answer.status_code in (200, 404)
        return self._record(DELETE, name, start, ok, client=client)

    def _list(self, client: int) -> bool:
        start = self.recorder.now()
        answer = self._call("GET", f"{self.master}/api/list", params={"path": FOLDER})
        seen = None
        if answer is not None and answer.status_code == 200:
            seen = tuple(
                (e["name"], e["hash"]) for e in answer.json()["entries"] if not e["is_dir"]
            )
        elif answer is not None and answer.status_code == 404:
            seen = ()  # no folder yet
        return self._record(LIST, FOLDER, start, seen is not None, seen=seen, client=client)
