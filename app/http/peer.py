"""Whether the client of a long-lived response is still there, from its socket.

A WSGI app learns that its client went away only when a write fails, which may be a
write or two after the close (the first lands in the kernel's buffer). A response that
waits between its bytes (a node's stream, ``app.master.streams``) waits on the socket
instead: a client that closed its end, or whose process was killed (the kernel closes
its sockets), makes that wait return at once.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Any


def peer_watch(environ: Mapping[str, Any]) -> Callable[[float], bool] | None:
    """A wait of up to the seconds given on the request's socket, True if the client is
    gone meanwhile; None when the server gives no socket (a test client)."""
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return None

    def is_gone(seconds: float) -> bool:
        previous = sock.gettimeout()
        sock.settimeout(seconds)
        try:
            # Peeked, not read: a client of such a response sends nothing more, so any
            # byte is as good as a close (it would be out of step with the response).
            sock.recv(1, socket.MSG_PEEK)
        except TimeoutError:
            return False
        except OSError:
            return True  # reset
        finally:
            sock.settimeout(previous)  # the answer is sent with the server's own
        return True  # closed (b"") or out of step

    return is_gone
