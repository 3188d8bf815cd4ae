from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from app.primitives.group_commit import GroupCommit


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


def test_after_a_shared_batch_the_leader_waits_for_writers_coming_back():
    batches: list[list[str]] = []
    hold = threading.Event()

    def operation(items):
        batches.append(list(items))
        if len(batches) == 2:
            hold.wait(5)  # the first shared batch: "b" and "c" queue up behind it
        return list(items)

    group = GroupCommit(operation, max_batch=10, delay=0.3)
    started = time.monotonic()
    group.submit("alone")
    assert time.monotonic() - started < 0.25  # no batch shared yet: no wait
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(group.submit, "a")
        while len(batches) < 2:
            time.sleep(0.001)
        queued = [pool.submit(group.submit, item) for item in ("b", "c")]
        while len(group._queue) < 2:
            time.sleep(0.001)
        hold.set()
        assert first.result(5) == "a"
        assert sorted(f.result(5) for f in queued) == ["b", "c"]
    assert batches == [["alone"], ["a"], ["b", "c"]]
    # The last batch was shared: "d" leads and waits, "e" comes back within the delay.
    with ThreadPoolExecutor(2) as pool:
        d = pool.submit(group.submit, "d")
        time.sleep(0.05)
        e = pool.submit(group.submit, "e")
        assert (d.result(5), e.result(5)) == ("d", "e")
    assert batches[-1] == ["d", "e"]
    # A batch of one ends the waiting: the next caller alone goes at once.
    group.submit("f")
    started = time.monotonic()
    group.submit("g")
    assert time.monotonic() - started < 0.25
    assert batches[-2:] == [["f"], ["g"]]


def test_the_wait_ends_when_as_many_are_queued_as_last_time_and_is_skipped_under_load():
    batches: list[list[str]] = []
    hold = threading.Event()

    def operation(items):
        batches.append(list(items))
        if items == ["a"]:
            hold.wait(5)
        return list(items)

    group = GroupCommit(operation, max_batch=10, delay=5.0)
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(group.submit, "a")
        while not batches:
            time.sleep(0.001)
        queued = [pool.submit(group.submit, item) for item in ("b", "c")]
        while len(group._queue) < 2:
            time.sleep(0.001)
        hold.set()  # [b, c] runs at once: it follows a batch of one
        first.result(5)
        for future in queued:
            future.result(5)
        # After [b, c]: "d" waits for one more, and goes as soon as "e" is in line.
        d = pool.submit(group.submit, "d")
        time.sleep(0.05)
        e = pool.submit(group.submit, "e")
        assert (d.result(5), e.result(5)) == ("d", "e")
    assert batches == [["a"], ["b", "c"], ["d", "e"]]
    assert time.monotonic() - started < 2  # never the 5 s delay

    # Under load the callers are queued when the batch before ends: nobody waits.
    batches.clear()
    holds = {"a": threading.Event(), "p": threading.Event()}

    def held(items):
        batches.append(list(items))
        if items[0] in holds:
            holds[items[0]].wait(5)
        return list(items)

    group = GroupCommit(held, max_batch=10, delay=5.0)
    started = time.monotonic()
    with ThreadPoolExecutor(5) as pool:

        def queue_behind(hold: str, items: tuple[str, ...]) -> list[Future[str]]:
            while not batches or batches[-1][0] != hold:
                time.sleep(0.001)
            futures = [pool.submit(group.submit, item) for item in items]
            while len(group._queue) < len(items):
                time.sleep(0.001)
            holds[hold].set()
            return futures

        futures = [pool.submit(group.submit, "a")]
        futures += queue_behind("a", ("p", "q"))
        futures += queue_behind("p", ("x", "y"))  # queued when the shared [p, q] ends
        assert [f.result(5) for f in futures] == ["a", "p", "q", "x", "y"]
    assert batches == [["a"], ["p", "q"], ["x", "y"]]
    assert time.monotonic() - started < 2


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


def test_a_leader_runs_one_batch_and_hands_the_lead_on():
    """Under steady load no caller works for others beyond its own batch."""
    batches: list[tuple[int, list[int]]] = []  # (thread running it, items)
    callers: dict[int, int] = {}  # item -> thread that submitted it
    release = threading.Event()

    def operation(items):
        batches.append((threading.get_ident(), list(items)))
        if len(batches) == 1:
            release.wait(5)  # the others queue up behind the first batch
        return list(items)

    group = GroupCommit(operation, max_batch=4)

    def submit(i: int) -> int:
        callers[i] = threading.get_ident()
        return group.submit(i)

    with ThreadPoolExecutor(10) as pool:
        first = pool.submit(submit, 0)
        while not batches:
            time.sleep(0.001)
        rest = [pool.submit(submit, i) for i in range(1, 10)]
        while len(group._queue) < 9:
            time.sleep(0.001)
        release.set()
        assert first.result(5) == 0
        assert sorted(f.result(5) for f in rest) == list(range(1, 10))
    assert [len(items) for _thread, items in batches] == [1, 4, 4, 1]
    # Each batch ran on the thread of the caller at its head, not on the first leader's.
    assert all(thread == callers[items[0]] for thread, items in batches)


def test_a_caller_killed_while_waiting_does_not_strand_the_others(monkeypatch):
    """gevent kills request greenlets when a worker stops: the lead must not die with one."""
    import types

    import gevent
    import gevent.event
    import gevent.lock

    from app.primitives import group_commit as batch_module

    monkeypatch.setattr(
        batch_module,
        "threading",
        types.SimpleNamespace(Event=gevent.event.Event, Lock=gevent.lock.Semaphore),
    )
    release = gevent.event.Event()

    def operation(items):
        if 0 in items:
            release.wait(5)
        return list(items)

    group = GroupCommit(operation, max_batch=1)
    leader = gevent.spawn(group.submit, 0)
    gevent.sleep(0.01)
    doomed, waiter = gevent.spawn(group.submit, 1), gevent.spawn(group.submit, 2)
    gevent.sleep(0.01)
    doomed.kill()
    release.set()
    assert leader.get(timeout=5) == 0
    assert waiter.get(timeout=5) == 2
    assert group.submit(3) == 3  # and the group still works


def test_a_leader_killed_while_gathering_hands_the_lead_on():
    """A stopping worker may kill the leader in its wait for more callers."""

    class Killed(BaseException):
        pass

    batches: list[list[str]] = []
    group = GroupCommit(lambda items: batches.append(list(items)) or list(items), 10, delay=0.2)
    group._last_batch_size = 2  # as after a shared batch: the next leader gathers
    gathering = threading.Event()
    real_gather = group._gather

    def gather_then_die() -> None:
        if threading.current_thread().name == "leader":
            gathering.set()
            while len(group._queue) < 2:  # "b" queues behind the gathering leader
                time.sleep(0.001)
            raise Killed
        real_gather()

    group._gather = gather_then_die  # type: ignore[method-assign]
    outcome: dict[str, object] = {}

    def lead() -> None:
        try:
            group.submit("a")
        except Killed:
            outcome["a"] = "killed"

    leader = threading.Thread(target=lead, name="leader")
    leader.start()
    gathering.wait(5)
    follower = threading.Thread(target=lambda: outcome.update(b=group.submit("b")), daemon=True)
    follower.start()
    follower.join(5)  # stranded, "b" would wait for ever
    leader.join(5)
    assert outcome == {"a": "killed", "b": "b"}  # "b" led a batch of its own
    assert batches == [["b"]]
    assert not group._queue and not group._leading
