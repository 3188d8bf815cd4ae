"""A TCP proxy in front of one node that delays what the node sends back: a slow node,
as the master and clients see it (its own heartbeats go straight to the master, so it
still beats). Threads; ``delay`` may change while it runs; bounded by ``close()``."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from localcluster.launcher import free_port


class SlowProxy:
    def __init__(self, upstream_port: int, delay: float = 0.0) -> None:
        self.delay = delay
        self.upstream = ("127.0.0.1", upstream_port)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            if self._closed.is_set():  # closed meanwhile: close() did not see these two
                client.close()
                server.close()
                return
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, 0), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, 1), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, slowed: int) -> None:
        try:
            while data := source.recv(65536):
                if slowed and self.delay:
                    time.sleep(self.delay)  # each burst the node sends waits this long
                sink.sendall(data)
        except OSError:
            pass
        finally:
            # Both ends, closed here too: a pump still sleeping when close() ran must not
            # leave its sockets to the garbage collector (a ResourceWarning in a later test).
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for sock in self._sockets:
            sock.close()
