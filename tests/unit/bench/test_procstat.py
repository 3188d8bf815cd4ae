"""The bench's CPU meter: what a process tree and the load generators spent."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from bench.procstat import CLIENT, CpuMeter, process_tree


def _became_the_last_sleep(pid: int) -> bool:
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", b"30"]


BURN = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"


def test_the_meter_counts_a_busy_tree_and_an_idle_one_apart_and_the_waited_for_client():
    # The shell's child burns 0.4 s of CPU and exits (counted through the shell, which
    # waits for it); then the shell becomes a sleep, alone in its tree.
    busy = subprocess.Popen(["sh", "-c", f"sleep 0.3; {sys.executable} -c '{BURN}'; exec sleep 30"])
    idle = subprocess.Popen(["sleep", "30"])
    try:
        with CpuMeter({"busy": busy.pid, "idle": idle.pid}) as cpu:
            subprocess.run([sys.executable, "-c", BURN], check=True)  # a waited-for load
            deadline = time.monotonic() + 20
            while not _became_the_last_sleep(busy.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert process_tree(busy.pid) == [busy.pid]
        assert 0.38 <= cpu.spent["busy"] <= 1.0
        assert cpu.spent["idle"] < 0.05
        assert cpu.spent[CLIENT] >= 0.38
        assert cpu.ms_per(4)["busy"] == cpu.spent["busy"] * 1000 / 4
    finally:
        for process in (busy, idle):
            process.kill()
            process.wait()
