"""Sources read in order, the small ones ahead of the consumer within the bounds."""

from __future__ import annotations

import threading
import time

import pytest

from app.primitives.read_ahead import read_in_order


class Sources:
    """Sources that record when each is read and how many are read at once."""

    def __init__(self, sizes: list[int], pause: float = 0.0) -> None:
        self.sizes = sizes
        self.pause = pause
        self.started: list[int] = []
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def reader(self, index: int):
        def read():
            with self._lock:
                self.started.append(index)
                self.running += 1
                self.most_at_once = max(self.most_at_once, self.running)
            try:
                time.sleep(self.pause)
                yield bytes([index % 256]) * self.sizes[index]
            finally:
                with self._lock:
                    self.running -= 1

        return read

    def all(self):
        return [(size, self.reader(index)) for index, size in enumerate(self.sizes)]


def test_each_source_comes_in_order_with_its_bytes():
    sources = Sources([10, 3_000_000, 0, 7, 20], pause=0.001)
    got = [b"".join(chunks) for chunks in read_in_order(sources.all(), files=3, small=100)]
    assert got == [bytes([n]) * size for n, size in enumerate(sources.sizes)]


def test_small_sources_are_read_several_at_once_within_the_bounds():
    sources = Sources([100] * 40, pause=0.02)
    files = read_in_order(sources.all(), files=4, max_bytes=10_000)
    assert sources.started == []  # nothing before the first is taken
    began = time.monotonic()
    for chunks in files:
        b"".join(chunks)
    # One after another they take 40 pauses; four at once, about ten.
    assert time.monotonic() - began < 40 * 0.02 * 0.6
    assert 2 <= sources.most_at_once <= 4


def test_bytes_read_ahead_are_bounded():
    sources = Sources([1000] * 20, pause=0.005)
    files = read_in_order(sources.all(), files=10, max_bytes=2500)
    b"".join(next(files))
    time.sleep(0.05)
    # The one taken, and at most three more (the last one past the bound).
    assert len(sources.started) <= 4
    files.close()


def test_a_large_source_is_read_only_when_reached_and_closing_stops_the_reads():
    sources = Sources([10, 10, 5000, 10, 10, 10, 10, 10], pause=0.005)
    files = read_in_order(sources.all(), files=2, small=100)
    b"".join(next(files))
    b"".join(next(files))
    time.sleep(0.05)
    assert 2 not in sources.started
    b"".join(next(files))
    assert 2 in sources.started
    files.close()
    started = len(sources.started)
    time.sleep(0.05)
    assert len(sources.started) == started < len(sources.sizes)


def test_an_error_is_raised_by_its_own_source():
    def failing():
        raise OSError("node gone")
        yield b""

    good = Sources([5, 5])
    sources = [(5, good.reader(0)), (5, failing), (5, good.reader(1))]
    files = read_in_order(sources)
    assert b"".join(next(files)) == bytes([0]) * 5
    with pytest.raises(OSError, match="node gone"):
        b"".join(next(files))
    files.close()
