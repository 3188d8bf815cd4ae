"""Fair turns between the connections of a gevent worker."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.primitives.offhub import gevent_patched


def fair_turn() -> Callable[[], None] | None:
    """In a gevent worker, a call that puts the current request behind the other ready ones.

    On a keep-alive connection whose client answers fast (loopback, a load generator),
    the next request is already in the socket when the greenlet looks for it, so it
    never parks on the hub: one connection keeps the worker while 63 others wait
    seconds. One ``gevent.sleep(0)`` per request puts it at the back of the queue.
    None outside gevent (the Flask test client, threads).
    """
    if not gevent_patched():
        return None
    import gevent

    turn: Callable[[], None] = gevent.sleep
    return turn


def install_fair_turns(app: Any) -> bool:
    """Give every Flask request of a gevent worker its turn (see ``fair_turn``)."""
    turn = fair_turn()
    if turn is not None:
        app.before_request(turn)
    return turn is not None
