from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.batch import GroupCommit


def test_concurrent_callers_share_operations_and_get_their_own_results():
    calls: list[list[int]] = []

    def slow_double(items):
        calls.append(list(items))
        time.sleep(0.05)  # long enough for the others to queue up behind the leader
        return [2 * item for item in items]

    group = GroupCommit(slow_double, max_batch=100)
    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(group.submit, range(32)))
    assert results == [2 * i for i in range(32)]
    assert sorted(i for batch in calls for i in batch) == list(range(32))
    assert len(calls) < 8  # shared: one call per item would be 32


def test_a_caller_alone_pays_no_wait_and_batches_are_capped():
    seen: list[int] = []
    group = GroupCommit(lambda items: seen.append(len(items)) or list(items), max_batch=3)
    assert group.submit("x") == "x"
    assert seen == [1]
    barrier = threading.Barrier(10)

    def submit(i: int) -> int:
        barrier.wait()
        return group.submit(i)

    with ThreadPoolExecutor(10) as pool:
        assert sorted(pool.map(submit, range(10))) == list(range(10))
    assert max(seen) <= 3


def test_every_caller_of_a_failed_batch_sees_the_error():
    down = threading.Event()
    down.set()

    def register(items):
        time.sleep(0.02)
        if down.is_set():
            raise ConnectionError("master down")
        return list(items)

    group = GroupCommit(register, max_batch=50)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(group.submit, i) for i in range(8)]
    for future in futures:
        with pytest.raises(ConnectionError):
            future.result()
    down.clear()  # the master is back: the next caller leads a fresh batch
    assert group.submit(1) == 1
