"""A node tells the master which copies it lacks (#17): surely for a copy it had, at most
once a minute and in bounded numbers for any hash asked of it, and never for a copy that
is back on its disk."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.cluster.master_client import MasterUnavailable
from app.metadata.engine import make_engine, sqlite_url
from app.metadata.node_catalogue import NodeCatalogue
from app.node.losses import REPORT_BATCH, LossReporter
from app.storage.blobstore import FileBlobStore
from localcluster.launcher import wait_until


class Master:
    """What the reporter sends, in order; ``down`` makes it fail as an absent master."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.down = False
        self.called = threading.Event()

    def report_lost(self, digests: Sequence[str]) -> list[str]:
        if self.down:
            raise MasterUnavailable("no master answered")
        self.calls.append(list(digests))
        self.called.set()
        return list(digests)

    @property
    def reported(self) -> list[str]:
        return [digest for call in self.calls for digest in call]


class Node:
    def __init__(self, root: Path) -> None:
        self.blobs = FileBlobStore(root)
        self.catalog = NodeCatalogue(make_engine(sqlite_url(root / "catalog.db")))
        self.master = Master()

    def store(self, data: bytes) -> str:
        writer = self.blobs.open_writer()
        writer.write(data)
        stored = self.blobs.commit(writer)
        self.catalog.record(stored.digest, "f.bin", stored.size)
        return stored.digest

    def reporter(self, **options) -> LossReporter:
        return LossReporter(self.blobs, self.catalog, self.master.report_lost, **options)


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


def digest_of(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def test_a_catalogued_copy_gone_from_disk_is_reported_and_uncatalogued(node):
    reporter = node.reporter()
    digest = node.store(b"lost bytes")
    node.blobs.path_for(digest).unlink()
    reporter.missing(digest)
    assert node.catalog.get(digest) is None  # /health counts what is here
    assert reporter.flush() == [digest] and node.master.calls == [[digest]]
    assert reporter.flush() == [] and reporter.waiting == 0


def test_a_copy_back_on_disk_before_the_report_goes_is_not_reported(node):
    reporter = node.reporter()
    digest = node.store(b"comes back")
    reporter.missing(digest, had=True)
    node.store(b"comes back")  # a repair brought it back meanwhile
    assert reporter.flush() == [] and node.master.calls == []


def test_hashes_asked_for_are_reported_once_a_minute_and_at_most_so_many(node):
    reporter = node.reporter(max_absent=5, resend_after=60.0)
    for _ in range(3):
        reporter.missing(digest_of(0))
    assert reporter.flush() == [digest_of(0)]
    reporter.missing(digest_of(0))  # sent a moment ago: not again
    for i in range(1, 100):
        reporter.missing(digest_of(i))
    assert reporter.waiting == 5
    # A copy the node had is always kept, however many reads of nothing wait.
    had = node.store(b"had it")
    node.blobs.delete(had)
    reporter.missing(had, had=True)
    assert reporter.flush() == [had] + [digest_of(i) for i in range(1, 6)]


def test_reports_wait_while_the_master_is_away_and_go_in_batches(node):
    reporter = node.reporter()
    node.master.down = True
    digests = [digest_of(i) for i in range(REPORT_BATCH + 10)]
    for digest in digests:
        reporter.missing(digest, had=True)
    with pytest.raises(MasterUnavailable):
        reporter.flush()
    assert reporter.waiting == len(digests)
    node.master.down = False
    assert sorted(reporter.flush()) == sorted(digests)
    assert [len(call) for call in node.master.calls] == [REPORT_BATCH, 10]


def test_the_background_thread_sends_reports_and_retries(node):
    reporter = node.reporter(delay=0.01, retry_delay=0.05)
    node.master.down = True
    reporter.start()
    try:
        reporter.missing(digest_of(1), had=True)
        wait_until(lambda: reporter.waiting == 1, deadline=5)
        node.master.down = False
        assert node.master.called.wait(timeout=10)
        wait_until(lambda: reporter.waiting == 0, deadline=5)
        assert node.master.reported == [digest_of(1)]
    finally:
        reporter.stop()
