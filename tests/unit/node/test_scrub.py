from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest

from app.errors import BlobNotFound
from app.metadata.engine import make_engine, sqlite_url
from app.metadata.node_catalogue import NodeCatalogue
from app.node.scrub import Scrubber
from app.storage.blobstore import FileBlobStore

MIB = 1 << 20


class Node:
    """A node's blob store and catalogue on real files, plus what the scrubber reported."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = FileBlobStore(root)
        self.catalog = NodeCatalogue(make_engine(sqlite_url(root / "catalog.db")))
        self.reported: list[str] = []
        self.reported_missing: list[str] = []

    def store(self, data: bytes, name: str = "file.bin") -> str:
        writer = self.blobs.open_writer()
        writer.write(data)
        stored = self.blobs.commit(writer)
        self.catalog.record(stored.digest, name, stored.size)
        return stored.digest

    def scrubber(self, bytes_per_second: float = 0, interval: float = 60.0, **kw) -> Scrubber:
        return Scrubber(
            self.blobs,
            self.catalog,
            self.reported.append,
            bytes_per_second=bytes_per_second,
            interval=interval,
            lock_path=self.root / "scrub.lock",
            on_missing=self.reported_missing.append,
            **kw,
        )


def flip_byte(path: Path, offset: int = 0) -> None:
    with path.open("r+b") as blob:
        blob.seek(offset)
        byte = blob.read(1)
        blob.seek(offset)
        blob.write(bytes([byte[0] ^ 0x80]))


def wait_until(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path / "node")


def test_a_rotten_blob_is_quarantined_reported_and_forgotten(node: Node):
    rotten = node.store(os.urandom(200_000), "rotten.txt")
    healthy_data = os.urandom(100_000)
    healthy = node.store(healthy_data, "healthy.txt")
    assert node.catalog.name_of(rotten) == "rotten.txt"  # read once: its name is cached
    flip_byte(node.blobs.locate(rotten), offset=150_000)
    assert node.blobs.verify(rotten) is False

    report = node.scrubber().run_pass()

    assert report.corrupt == [rotten] and report.missing == []
    assert report.checked == 2 and report.bytes >= 300_000 and not report.interrupted
    assert node.reported == [rotten]
    assert node.catalog.get(rotten) is None
    assert node.catalog.name_of(rotten) is None  # the cached name went too
    with pytest.raises(BlobNotFound):
        node.blobs.locate(rotten)
    assert [p.name.split(".")[0] for p in (node.root / "quarantine").iterdir()] == [rotten]
    assert node.blobs.locate(healthy).read_bytes() == healthy_data
    assert node.catalog.get(healthy).name == "healthy.txt"


def test_a_clean_pass_changes_nothing(node: Node):
    digests = {node.store(os.urandom(n)) for n in (0, 1, 5000)}
    report = node.scrubber().run_pass()
    assert (report.checked, report.corrupt, report.missing) == (3, [], [])
    assert {d for d, _ in node.blobs.iter_blobs()} == digests
    assert node.reported == [] and not (node.root / "quarantine").exists()


def test_a_catalogued_blob_missing_from_disk_is_dropped(node: Node):
    lost = node.store(b"lost")
    kept = node.store(b"kept")
    node.blobs.locate(lost).unlink()  # an operator's rm, or a dying disk

    report = node.scrubber().run_pass()

    assert report.missing == [lost] and report.corrupt == []
    assert node.reported_missing == [lost]
    assert node.catalog.get(lost) is None and node.catalog.get(kept) is not None
    assert node.catalog.stats().blobs == 1


def test_limit_bounds_the_blobs_checked(node: Node):
    for i in range(5):
        node.store(bytes([i]))
    assert node.scrubber().run_pass(limit=2).checked == 2


def test_a_blob_repaired_while_verified_is_kept(tmp_path: Path):
    """The second look sees a complete replacement the first fd never read."""

    class RepairedMidScan(FileBlobStore):
        repair: tuple[Path, Path] | None = None

        def verify(self, digest, chunk_size=1 << 20, throttle=None):
            def replace_then_throttle(size: int) -> None:
                if self.repair is not None:
                    os.replace(*self.repair)  # a repair's commit, mid-read
                    self.repair = None
                if throttle is not None:
                    throttle(size)

            return super().verify(digest, chunk_size, replace_then_throttle)

    node = Node(tmp_path)
    node.blobs = RepairedMidScan(tmp_path)
    data = os.urandom(100_000)
    digest = node.store(data)
    path = node.blobs.locate(digest)
    flip_byte(path)
    good = tmp_path / "good-copy"
    good.write_bytes(data)
    node.blobs.repair = (good, path)

    report = node.scrubber(chunk_size=4096).run_pass()

    assert report.corrupt == [] and node.reported == []
    assert report.checked == 1 and report.bytes == 2 * len(data)  # it did look twice
    assert node.blobs.locate(digest).read_bytes() == data


def test_a_failed_report_is_retried_on_the_next_pass(node: Node):
    rotten = node.store(os.urandom(1000))
    flip_byte(node.blobs.locate(rotten))
    calls: list[str] = []

    def flaky_master(digest: str) -> None:
        calls.append(digest)
        if len(calls) == 1:
            raise ConnectionError("master down")

    scrubber = Scrubber(
        node.blobs,
        node.catalog,
        flaky_master,
        bytes_per_second=0,
        interval=60,
        lock_path=node.root / "scrub.lock",
    )
    assert scrubber.run_pass().corrupt == [rotten]
    assert scrubber.run_pass().corrupt == []
    assert calls == [rotten, rotten]
    scrubber.run_pass()
    assert calls == [rotten, rotten]


def test_the_byte_rate_limit_paces_a_pass(node: Node):
    for _ in range(4):
        node.store(os.urandom(512 * 1024))
    # 2 MiB at 4 MiB/s is 0.5 s of paced reading.
    started = time.monotonic()
    report = node.scrubber(bytes_per_second=4 * MIB).run_pass()
    elapsed = time.monotonic() - started
    assert report.checked == 4 and report.bytes == 2 * MIB
    assert 0.4 <= elapsed < 3.0
    assert report.seconds <= elapsed


def test_stop_interrupts_a_throttled_pass_within_a_second(node: Node):
    for _ in range(4):
        node.store(os.urandom(MIB))
    # 4 MiB at 256 KiB/s would take 16 s.
    scrubber = node.scrubber(bytes_per_second=256 * 1024, chunk_size=64 * 1024)
    assert scrubber.start()
    assert wait_until(lambda: scrubber.running)
    time.sleep(0.2)  # let it get well into the pass (bounded: the pass needs 16 s)

    started = time.monotonic()
    scrubber.stop()
    assert time.monotonic() - started < 1.0
    assert not scrubber.running
    assert scrubber.last_report is not None and scrubber.last_report.interrupted
    assert 0 < scrubber.last_report.bytes < 4 * MIB
    assert node.reported == []


def test_one_worker_per_node_runs_the_loop(node: Node):
    first = node.scrubber()
    sibling = node.scrubber()
    assert first.start()
    try:
        assert not sibling.start()
    finally:
        first.stop()
    assert sibling.start()
    sibling.stop()


def test_the_loop_finds_rot_that_appears_between_passes(node: Node):
    digest = node.store(os.urandom(10_000))
    scrubber = node.scrubber(interval=0.05)
    assert scrubber.start()
    try:
        assert wait_until(lambda: scrubber.last_report is not None)
        assert node.reported == []
        flip_byte(node.blobs.locate(digest))
        assert wait_until(lambda: node.reported == [digest])
    finally:
        scrubber.stop()
    assert node.catalog.get(digest) is None


def test_an_unreadable_blob_is_quarantined_and_the_pass_goes_on(tmp_path: Path):
    class BadSector(FileBlobStore):
        """A disk on which one blob's sectors answer EIO."""

        bad: str = ""

        def verify(self, digest, chunk_size=1 << 20, throttle=None):
            if digest == self.bad:
                raise OSError(errno.EIO, "Input/output error")
            return super().verify(digest, chunk_size, throttle)

    node = Node(tmp_path)
    node.blobs = BadSector(tmp_path)
    unreadable = node.store(b"unreadable")
    healthy = node.store(b"healthy")
    node.blobs.bad = unreadable

    report = node.scrubber().run_pass()

    assert report.corrupt == [unreadable] and node.reported == [unreadable]
    assert report.checked == 2
    assert node.catalog.get(unreadable) is None
    with pytest.raises(BlobNotFound):
        node.blobs.locate(unreadable)
    assert node.blobs.locate(healthy).read_bytes() == b"healthy"
