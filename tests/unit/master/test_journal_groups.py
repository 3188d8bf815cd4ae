"""The master's tree journal group-commits (``app.master.journal``): records of changes
made at once share one blob, one replicated write, named after the latest of them;
a write that fails fails every change of its group."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from app.errors import ServiceUnavailable
from app.master.journal import TreeJournal
from app.master.snapshots import Snapshots
from app.metadata.engine import make_engine, sqlite_url
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.journal import records_after
from app.metadata.journal_records import journal_name, parse_records, tree_record
from app.metadata.schema import settings as schema_settings
from app.metadata.settings import SettingStore
from app.metadata.snapshots import SnapshotInfo, record_snapshot

CHANGES = 8


@dataclass(frozen=True)
class Written:
    stored_on: tuple[str, ...]


class SlowWriter:
    """Stands in for ``ReplicatedWriter``: each write takes ``seconds``, as R nodes'
    durable copies do, and is kept to be looked at."""

    def __init__(self, seconds: float, error: Exception | None = None) -> None:
        self.seconds = seconds
        self.error = error
        self.blobs: list[tuple[str, bytes]] = []

    def write(self, live, source, digest, name, kind, *, private):
        assert (kind, private) == ("journal", True)
        time.sleep(self.seconds)
        if self.error is not None:
            raise self.error
        self.blobs.append((name, source()))
        return Written(("n1", "n2"))


def journal_over_a_snapshot(tmp_path, writer: SlowWriter) -> TreeJournal:
    store = FileCatalogue(make_engine(sqlite_url(tmp_path / "meta.db")))
    record_snapshot(store.engine, SnapshotInfo("5a" * 32, time.time() - 60, 3))
    return TreeJournal(store, writer, nodes=None, live_nodes=list)  # type: ignore[arg-type]


def make_changes_at_once(journal: TreeJournal) -> list[BaseException | None]:
    """CHANGES folders made at once, each journaled by its own thread; what each got."""
    outcomes: list[BaseException | None] = [None] * CHANGES

    def change(n: int) -> None:
        try:
            journal.record(tree_record(1, "mkdir", (f"/d{n}",), time.time()))
        except BaseException as exc:  # handed to the test
            outcomes[n] = exc

    threads = [threading.Thread(target=change, args=(n,)) for n in range(CHANGES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


def test_changes_made_at_once_share_a_blob_named_after_the_latest(tmp_path):
    writer = SlowWriter(0.3)
    journal = journal_over_a_snapshot(tmp_path, writer)
    assert make_changes_at_once(journal) == [None] * CHANGES
    # The first leads alone; the others queue behind it and go in one or two more.
    assert 2 <= len(writer.blobs) <= 3, [name for name, _data in writer.blobs]
    grouped = [parse_records(data) for _name, data in writer.blobs]
    assert sorted(r.args[0] for group in grouped for r in group) == [
        f"/d{n}" for n in range(CHANGES)
    ]
    for (name, _data), group in zip(writer.blobs, grouped, strict=True):
        assert name == journal_name(max(r.written_at for r in group))
    # One row per blob, each to be replayed after the snapshot.
    assert len(records_after(journal.engine, 0.0)) == len(writer.blobs)


def test_a_write_below_the_quorum_fails_every_change_of_its_group(tmp_path):
    failure = ServiceUnavailable("only 1 of 2 required copies could be written")
    journal = journal_over_a_snapshot(tmp_path, SlowWriter(0.2, failure))
    assert make_changes_at_once(journal) == [failure] * CHANGES


def test_nothing_is_journaled_before_a_snapshot(tmp_path):
    writer = SlowWriter(0.0)
    store = FileCatalogue(make_engine(sqlite_url(tmp_path / "meta.db")))
    journal = TreeJournal(store, writer, nodes=None, live_nodes=list)  # type: ignore[arg-type]
    journal.record(tree_record(1, "mkdir", ("/d",), time.time()))
    assert writer.blobs == []


@pytest.fixture(autouse=True)
def _bounded():
    began = time.monotonic()
    yield
    assert time.monotonic() - began < 10


class SnapshotWriter:
    """Stands in for ``ReplicatedWriter`` under ``Snapshots.take``: while the snapshot
    is written (after its read, before it is recorded), a change is journaled."""

    def __init__(self, journal_of) -> None:
        self.journal_of = journal_of
        self.journaled: list[bool] = []

    def write(self, live, source, digest, name, kind, *, ranked=False, private):
        journal, writer = self.journal_of()
        before = len(writer.blobs)
        journal.record(tree_record(1, "mkdir", ("/meanwhile",), time.time()))
        self.journaled.append(len(writer.blobs) > before)
        return Written(("n1",))


def test_a_change_made_while_the_first_snapshot_is_taken_is_journaled(tmp_path):
    """It is not in the snapshot (made after its read), and it was answered."""
    store = FileCatalogue(make_engine(sqlite_url(tmp_path / "meta.db")))
    journal_writer = SlowWriter(0.0)
    journal = TreeJournal(store, journal_writer, nodes=None, live_nodes=list)  # type: ignore[arg-type]
    writer = SnapshotWriter(lambda: (journal, journal_writer))
    settings = SettingStore(store.engine, schema_settings)
    snapshots = Snapshots(
        store, writer, None, list, settings, keep=2, max_bytes=1 << 20, block_size=1 << 20
    )  # type: ignore[arg-type]
    snapshots.take()
    assert writer.journaled == [True]
