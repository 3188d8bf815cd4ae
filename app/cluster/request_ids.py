"""The request id every answer carries (``X-Request-Id``) and the cluster's calls pass on.

A request keeps the id its client sent when it is a plain token (what a proxy such as
nginx's ``$request_id``, or an operator's ``curl -H``, gives), else it gets one made
here. The answer carries it back, the JSON log lines name it (``app.server.json_logs``),
and the calls a master makes to nodes while serving it send it on (``node_client``),
so the node's answers and log lines carry it too: one grep finds a request on every
process it touched. Standard library only: the worker class imports it before gevent
patches (a requests import there would leave ssl unpatched).
"""

from __future__ import annotations

import itertools
import os
import re
from contextvars import ContextVar

HEADER = "X-Request-Id"
HEADER_LINE_NAME = b"x-request-id"  # as the fast path's parsed heads spell it
# Long enough for a UUID or a trace id, short and plain enough for a log line and a header.
_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9._:@-]{1,128}")

# The id of the request this greenlet (or the thread it handed work to) is serving.
current: ContextVar[str] = ContextVar("mdbx_request_id", default="")


class _Ids:
    """Ids unique across the processes of a cluster: a random prefix per process (made
    again in a forked child: gunicorn's workers) and a counter, cheaper than a UUID on
    the fast path."""

    def __init__(self) -> None:
        self.renew()

    def renew(self) -> None:
        self.prefix = os.urandom(6).hex()
        self.counter = itertools.count(1)

    def make(self) -> str:
        return f"{self.prefix}{next(self.counter):06x}"


_ids = _Ids()
os.register_at_fork(after_in_child=_ids.renew)


def accept_or_make(sent: str | None) -> str:
    """The id a request is known by: the one it was sent with when plain, else a new one."""
    if sent and _PLAIN_TOKEN.fullmatch(sent):
        return sent
    return _ids.make()
