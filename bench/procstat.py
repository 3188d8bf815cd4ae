"""Peak resident memory of labelled process trees, sampled from /proc in a thread.

    with RssSampler({"nginx": nginx.pid, "node": node.pid}) as rss:
        run_load()
    rss.peaks()["nginx"]  # {"max_process_bytes": ..., "tree_bytes": ..., "processes": ...}

RSS counts shared pages once per process, so a tree's sum overstates what forked workers
that share their parent's pages really use; it is the figure `ps` and `top` show.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

PidSource = Mapping[str, int] | Callable[[], Mapping[str, int]]

# Present when the kernel has CONFIG_PROC_CHILDREN; otherwise parents come from /proc/*/stat.
_HAVE_CHILDREN_FILE = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists()


def rss_bytes(pid: int) -> int:
    """VmRSS of ``pid`` in bytes; 0 if it has exited or has no memory (kernel thread, zombie)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone (ENOENT or ESRCH mid-read) or not ours to read
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def children(pid: int) -> list[int]:
    # Children are listed per thread, so a threaded parent needs every task read.
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _parent_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may contain spaces and ')', so split after the last ')'.
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(pid: int) -> list[int]:
    """``pid`` followed by all its descendants alive now (none if ``pid`` has exited)."""
    if not Path(f"/proc/{pid}").exists():
        return []
    parents = None if _HAVE_CHILDREN_FILE else _parent_map()
    tree = [pid]
    seen = {pid}
    i = 0
    while i < len(tree):
        kids = children(tree[i]) if parents is None else parents.get(tree[i], [])
        for kid in kids:
            if kid not in seen:  # guards against a pid reused while we walk
                seen.add(kid)
                tree.append(kid)
        i += 1
    return tree


WINDOW_SECONDS = 60.0


class _Peak:
    def __init__(self) -> None:
        self.tree_bytes = 0
        self.by_pid: dict[int, int] = {}
        # The tree's peak in the first minute, and every sample of the latest minute.
        self.first_window_bytes = 0
        self.last_window: collections.deque[tuple[float, int]] = collections.deque()


class RssSampler:
    """Background sampler of the peak RSS per process and per tree, for each label.

    ``pids`` maps a label to a tree's root pid, or is a callable returning such a map
    (called on every sample, for roots that change, e.g. restarted servers). Sampling
    stops at stop() or after ``max_seconds``, whichever comes first.
    """

    def __init__(
        self, pids: PidSource, interval: float = 0.1, *, max_seconds: float = 3600.0
    ) -> None:
        self._source = pids
        self.interval = interval
        self.max_seconds = max_seconds
        self.samples = 0
        self._peaks: dict[str, _Peak] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._started = time.monotonic()

    def __enter__(self) -> RssSampler:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Take a first sample now and keep sampling in a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("RssSampler already started")
        self.sample()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="RssSampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread after a last sample; re-raises an error the thread hit."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        self.sample()

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        try:
            while not self._stop.wait(self.interval) and time.monotonic() < deadline:
                self.sample()
        except BaseException as error:  # surfaced by stop(), since a thread's is lost
            self._error = error

    def sample(self) -> None:
        """Record one sample of every labelled tree (also callable by hand)."""
        roots = self._source() if callable(self._source) else self._source
        readings = {}
        for label, root in roots.items():
            readings[label] = {pid: rss_bytes(pid) for pid in process_tree(root)}
        now = time.monotonic()
        with self._lock:
            self.samples += 1
            for label, by_pid in readings.items():
                peak = self._peaks.setdefault(label, _Peak())
                tree = sum(by_pid.values())
                peak.tree_bytes = max(peak.tree_bytes, tree)
                if now - self._started <= WINDOW_SECONDS:
                    peak.first_window_bytes = max(peak.first_window_bytes, tree)
                peak.last_window.append((now, tree))
                while peak.last_window[0][0] < now - WINDOW_SECONDS:
                    peak.last_window.popleft()
                for pid, rss in by_pid.items():
                    # A process that exited between listing and reading shows 0; skip it.
                    if rss:
                        peak.by_pid[pid] = max(peak.by_pid.get(pid, 0), rss)

    def peaks(self) -> dict[str, dict[str, int]]:
        """Per label: the largest single process's peak RSS, the peak of the tree's sum,
        and how many distinct processes were seen in the tree (all in bytes but the last)."""
        with self._lock:
            return {
                label: {
                    "max_process_bytes": max(peak.by_pid.values(), default=0),
                    "tree_bytes": peak.tree_bytes,
                    "processes": len(peak.by_pid),
                }
                for label, peak in self._peaks.items()
            }

    def growth(self) -> dict[str, dict[str, int]]:
        """Per label: the tree's peak RSS in the first minute and in the last minute of
        sampling (bytes): a leak shows as the second well above the first."""
        with self._lock:
            return {
                label: {
                    "first_minute_bytes": peak.first_window_bytes,
                    "last_minute_bytes": max((b for _t, b in peak.last_window), default=0),
                }
                for label, peak in self._peaks.items()
            }

    def process_peaks(self) -> dict[str, dict[int, int]]:
        """Per label, the peak RSS in bytes of each pid seen in the tree."""
        with self._lock:
            return {label: dict(peak.by_pid) for label, peak in self._peaks.items()}


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CLIENT = "client"  # CpuMeter's label for this process and the children it waited for


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of ``pid`` and its descendants: the live ones, and
    through their parents' counts, those that exited and were waited for."""
    total = 0
    for member in process_tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / CLOCK_TICKS


def _own_cpu_seconds() -> float:
    # This process's threads (Python load clients) and the children it has waited for (wrk).
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class CpuMeter:
    """CPU seconds that labelled process trees, and the load generators (``CLIENT``: this
    process and its waited-for children), spend inside a ``with`` block.

    A worker that exits during the block still counts once its parent has waited for it
    (gunicorn's arbiter does at once).
    """

    def __init__(self, pids: Mapping[str, int]) -> None:
        self._pids = dict(pids)
        self._before: dict[str, float] = {}
        self.spent: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        readings = {label: cpu_seconds(pid) for label, pid in self._pids.items()}
        readings[CLIENT] = _own_cpu_seconds()
        return readings

    def __enter__(self) -> CpuMeter:
        self._before = self._read()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        after = self._read()
        self.spent = {label: after[label] - self._before[label] for label in after}

    def ms_per(self, operations: int) -> dict[str, float]:
        """Milliseconds of CPU per operation, by label."""
        return {label: s * 1000 / max(operations, 1) for label, s in self.spent.items()}
