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
