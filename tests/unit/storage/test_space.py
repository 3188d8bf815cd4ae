"""The free-space reading a node's uploads are checked against (app/storage/space.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.storage.space import FreeSpace


class Disk:
    """A filesystem whose free bytes the test sets, and which counts its readings."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, free: int) -> None:
        self.free = free
        self.readings = 0
        real = os.statvfs

        def statvfs(path: object) -> os.statvfs_result:
            self.readings += 1
            stats = list(real(path))
            stats[0] = stats[1] = 1  # f_bsize, f_frsize
            stats[4] = self.free  # f_bavail
            return os.statvfs_result(stats)

        monkeypatch.setattr(os, "statvfs", statvfs)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_recent_reading_answers_yes_less_what_it_admitted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk, clock = Disk(monkeypatch, 10_000), Clock()
    space = FreeSpace(tmp_path, max_age=0.1, clock=clock)
    assert space.admits(4_000)
    assert space.admits(4_000)
    assert disk.readings == 1
    # The reading less what it admitted (2,000) is short: read again before a no.
    disk.free = 9_000
    assert space.admits(4_000)
    assert disk.readings == 2


def test_a_no_is_given_only_on_a_fresh_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk, clock = Disk(monkeypatch, 1_000), Clock()
    space = FreeSpace(tmp_path, max_age=0.1, clock=clock)
    assert space.admits(500)
    disk.free = 100  # filled behind the store's back, within the reading's age
    assert not space.admits(600)
    assert disk.readings == 2
    disk.free = 1_000  # room made again: the next ask reads it
    assert space.admits(600)


def test_an_old_reading_is_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk, clock = Disk(monkeypatch, 10_000), Clock()
    space = FreeSpace(tmp_path, max_age=0.1, clock=clock)
    assert space.admits(1)
    disk.free = 5  # the disk filled: a yes within max_age is the reading's (ENOSPC at the write)
    clock.now += 0.2
    assert not space.admits(10)
    assert disk.readings == 2


def test_the_reserve_is_kept_but_not_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk, clock = Disk(monkeypatch, 10_000), Clock()
    space = FreeSpace(tmp_path, max_age=0.1, clock=clock)
    assert space.admits(1_000, reserve=8_000)
    assert space.admits(1_000, reserve=8_000)  # 8,000 left: the reserve is not used up
    disk.free = 8_500  # what the two writes took, and some
    assert not space.admits(1_000, reserve=8_000)
    assert disk.readings == 2
    assert space.admits(0)  # nothing asked: no reading


def test_now_reads_the_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    disk = Disk(monkeypatch, 12_345)
    assert FreeSpace(tmp_path).now() == 12_345
    assert disk.readings == 1
