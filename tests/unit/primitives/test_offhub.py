"""SerialThread: calls in order, off the caller's thread (off the hub under gevent)."""

import subprocess
import sys
import threading

import pytest

from app.primitives.offhub import SerialThread


def test_calls_run_in_order_on_one_other_thread_and_errors_reach_the_caller():
    serial = SerialThread()
    seen: list[tuple[int, int]] = []
    results = [
        serial.submit(lambda i=i: seen.append((i, threading.get_ident())) or i) for i in range(50)
    ]
    failed = serial.submit(lambda: 1 / 0)
    assert [result() for result in results] == list(range(50))
    assert [i for i, _ in seen] == list(range(50))
    assert len({ident for _, ident in seen}) == 1 and seen[0][1] != threading.get_ident()
    with pytest.raises(ZeroDivisionError):
        failed()
    serial.close()


# Under gevent's patching, as in a gunicorn worker; in a fresh interpreter so that the
# patching does not leak into this one.
GEVENT_SCRIPT = r"""
from gevent import monkey
monkey.patch_all()
import hashlib
import gevent
from app.primitives.offhub import SerialThread

ticks = []
ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.001)) for _ in range(10_000)])
serial = SerialThread()
data = b"x" * (256 << 20)  # about 0.2 s of hashing
digest = serial.submit(lambda: hashlib.sha256(data).hexdigest())()
assert digest == hashlib.sha256(data).hexdigest()
assert len(ticks) > 20, len(ticks)  # the hub kept running while the thread hashed
ticker.kill()
serial.close()
print("ok")
"""


def test_under_gevent_the_hub_runs_while_the_thread_works():
    result = subprocess.run([sys.executable, "-c", GEVENT_SCRIPT], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


# Pool threads and greenlets taking one lock by turns, as a node's blob tree does (moves
# into place on the pool, deletes on the hub). A lock of the patched ``threading`` stalled
# here in three runs out of four (a pool thread waiting for a wake-up that never came),
# as two nodes once did for good; ``native_rlock`` must never.
LOCK_STRESS_SCRIPT = r"""
from gevent import monkey
monkey.patch_all()
import gevent
from gevent import get_hub
from app.primitives.offhub import native_rlock

lock = native_rlock()
taken = [0]

def by_thread(times):
    for _ in range(times):
        with lock:
            taken[0] += 1

def by_greenlet(times):
    for _ in range(times):
        with lock:
            taken[0] += 1
        gevent.sleep(0)

jobs = [get_hub().threadpool.spawn(by_thread, 20000) for _ in range(4)]
jobs += [gevent.spawn(by_greenlet, 2000) for _ in range(20)]
done = gevent.joinall(jobs, timeout=15)
print(len(jobs) - len(done), taken[0])
"""


def test_a_native_lock_shared_by_pool_threads_and_greenlets_never_stalls():
    for _run in range(3):
        ran = subprocess.run(
            [sys.executable, "-c", LOCK_STRESS_SCRIPT],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.split() == ["0", str(4 * 20000 + 20 * 2000)]
