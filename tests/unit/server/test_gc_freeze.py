"""A worker puts what it loaded out of the cyclic collector's reach before serving."""

from __future__ import annotations

import gc
import logging
import weakref
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from gunicorn.workers.ggevent import GeventWorker

from app.server import worker as gunicorn_worker
from app.server.worker import FastGeventWorker, freeze_loaded_objects


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test run collects as usual


def test_garbage_is_collected_and_the_living_frozen(unfrozen):
    garbage, kept = Node(), Node()
    gone = weakref.ref(garbage)
    del garbage
    frozen = freeze_loaded_objects()
    assert gone() is None  # collected first, not frozen for good
    # A frozen object still goes when its last reference does (other threads of the test
    # run drop theirs), so the count can only have fallen since.
    assert 0 < gc.get_freeze_count() <= frozen
    assert not any(obj is kept for obj in gc.get_objects())  # out of the collector's lists


def test_the_worker_freezes_what_it_loaded_before_it_serves(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(gunicorn_worker, "freeze_loaded_objects", lambda: calls.append("freeze"))
    monkeypatch.setattr(GeventWorker, "run", lambda self: calls.append("serve"))
    worker = FastGeventWorker.__new__(FastGeventWorker)
    worker.log = SimpleNamespace(access_log=logging.getLogger("t"), access_log_enabled=False)
    worker.run()
    assert calls == ["freeze", "serve"]
