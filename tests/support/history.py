"""A history of operations on named files and its checker (#20).

Each name is a register: writes put a value, deletes put "absent", reads and listings
look. Every write puts a value of its own (its content names the write), so a read's bytes
say which write it saw. An operation is recorded with its invocation and completion times
and whether it was acknowledged (a 2xx); one that failed or timed out may or may not have
taken effect, and the checker allows both.

The rule, for a read of name N over ``[start, end]`` that saw value V (or absence): some
write of V (or a delete, or the initial absence) began before the read ended, and no
*acknowledged* write or delete of N began after it ended and itself ended before the read
began. Otherwise the read is stale (an acknowledged overwrite is ignored), phantom (V was
never written) or corrupt (bytes that no write sent). A listing is checked name by name
under the same rule, by content hash. The last reads, made once the faults are over, make
the same rule find lost writes: an acknowledged write not overwritten must be what they see.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

ABSENT = "absent"  # the value of a delete, and of every name before its first write
INITIAL = "initial"  # the token of that first absence
READ, WRITE, DELETE, LIST = "read", "write", "delete", "list"


def content(name: str, token: str) -> bytes:
    """The bytes of write ``token`` to ``name``: a header naming both, then filler of a
    length drawn from the token (1 byte to a few KiB), so no two writes are alike."""
    head = f"mdbx-history {name} {token}\n".encode()
    seeded = random.Random(f"{name}/{token}")
    return head + seeded.randbytes(seeded.choice([1, 100, 3_000, 9_000]))


def token_of(name: str, data: bytes) -> str | None:
    """The token of a write to ``name`` whose bytes are exactly ``data``, else None."""
    head, _, _ = data.partition(b"\n")
    parts = head.decode(errors="replace").split(" ")
    if len(parts) != 3 or parts[0] != "mdbx-history" or parts[1] != name:
        return None
    return parts[2] if content(name, parts[2]) == data else None


@dataclass(frozen=True)
class Op:
    """One operation: ``value`` is what a write put or a read saw (a token, ABSENT, or
    None for a read that failed); a listing has ``seen``, name -> content hash."""

    kind: str
    name: str
    start: float
    end: float
    ok: bool
    value: str | None = None
    seen: tuple[tuple[str, str], ...] | None = None
    client: int = 0
    final: bool = False


@dataclass
class Verdict:
    """What the checker found: counts by kind and every violation, spelled out."""

    checked: Counter[str] = field(default_factory=Counter)
    acknowledged: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        kinds = ", ".join(
            f"{kind} {n} ({self.acknowledged[kind]} ok)" for kind, n in sorted(self.checked.items())
        )
        return f"{sum(self.checked.values())} operations: {kinds}; {len(self.violations)} bad"


class Recorder:
    """Thread-safe list of operations, timed on one monotonic clock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ops: list[Op] = []
        self.now = time.monotonic

    def add(self, op: Op) -> None:
        with self._lock:
            self.ops.append(op)


def check(ops: Iterable[Op]) -> Verdict:
    """Check a history; see the module docstring for the rule."""
    ops = list(ops)
    verdict = Verdict()
    mutations: dict[str, list[Op]] = defaultdict(list)
    hashes: dict[tuple[str, str], str] = {}
    for op in ops:
        verdict.checked[op.kind] += 1
        verdict.acknowledged[op.kind] += op.ok
        if op.kind == WRITE and op.value is not None:
            mutations[op.name].append(op)
            hashes[(op.name, hashlib.sha256(content(op.name, op.value)).hexdigest())] = op.value
        elif op.kind == DELETE:
            mutations[op.name].append(Op(DELETE, op.name, op.start, op.end, op.ok, ABSENT))
    for op in ops:
        if op.kind == READ and op.ok and op.value is not None:
            _check_read(op, op.name, op.value, mutations[op.name], verdict)
        elif op.kind == LIST and op.ok and op.seen is not None:
            _check_listing(op, mutations, hashes, verdict)
    return verdict


def _check_read(op: Op, name: str, value: str, writes: list[Op], verdict: Verdict) -> None:
    if value == ABSENT:
        sources = [w for w in writes if w.value == ABSENT]
        sources.append(Op(DELETE, name, float("-inf"), float("-inf"), True, INITIAL))
    else:
        # A write that began only after the read ended is no source either.
        sources = [w for w in writes if w.kind == WRITE and w.value == value and w.start <= op.end]
        if not sources:
            verdict.violations.append(f"phantom: {_spell(op)} saw {value}, not written before")
            return
    for source in sources:
        if source.start <= op.end and not _overwritten(source, op.start, writes):
            return
    newer = [w for w in writes if w.ok and w.end < op.start and w.start > sources[-1].end]
    what = "lost write" if op.final else "stale read"
    latest = max(newer, key=lambda w: w.end) if newer else None
    shown = f"{latest.kind} {latest.value} acknowledged at {latest.end:.3f}" if latest else ""
    verdict.violations.append(f"{what}: {_spell(op)} saw {value} after {shown}")


def _overwritten(source: Op, at: float, writes: list[Op]) -> bool:
    """Whether an acknowledged write or delete surely came after ``source`` and before
    ``at``: it began once ``source`` had ended and ended before ``at``."""
    return any(
        w is not source and w.ok and w.start > source.end and w.end < at and w.value != source.value
        for w in writes
    )


def _check_listing(
    op: Op, mutations: dict[str, list[Op]], hashes: dict[tuple[str, str], str], verdict: Verdict
) -> None:
    seen = dict(op.seen or ())
    for name in sorted(set(mutations) | set(seen)):
        if name in seen:
            value = hashes.get((name, seen[name]))
            if value is None:
                verdict.violations.append(f"phantom: {_spell(op)} listed {name} as {seen[name]}")
                continue
        else:
            value = ABSENT
        _check_read(op, name, value, mutations[name], verdict)


def _spell(op: Op) -> str:
    return f"{op.kind} {op.name!r} by client {op.client} over [{op.start:.3f}, {op.end:.3f}]"
