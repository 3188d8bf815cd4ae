"""SQLite write transactions wait for a busy writer with time.sleep, not inside SQLite."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text

from app.metadata import engine as engine_module
from app.metadata.engine import make_engine, sqlite_url, write_transaction


@pytest.fixture
def locked(tmp_path):
    """An engine on a database whose write lock another process's connection holds."""
    path = tmp_path / "locked.db"
    engine = make_engine(sqlite_url(path))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
    holder = sqlite3.connect(path, isolation_level=None)  # as a sibling worker's
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")
    yield engine, holder
    holder.close()


def test_a_writer_waits_for_the_lock_with_time_sleep_and_then_writes(locked, monkeypatch):
    engine, holder = locked
    naps: list[float] = []

    def nap(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:  # the sibling commits while we wait
            holder.execute("COMMIT")

    monkeypatch.setattr(engine_module.time, "sleep", nap)
    with write_transaction(engine) as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    assert len(naps) == 3
    assert naps == sorted(naps) and naps[0] == engine_module.FIRST_LOCK_WAIT
    with engine.connect() as conn:
        assert conn.execute(text("SELECT v FROM t")).scalars().all() == [1]
        # The connection's busy timeout is restored for its readers.
        timeout = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert timeout == engine_module.BUSY_TIMEOUT_SECONDS * 1000


def test_a_writer_gives_up_after_the_busy_timeout(locked, monkeypatch):
    engine, holder = locked
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_SECONDS", 0.05)
    with pytest.raises(Exception, match="locked"), write_transaction(engine) as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    holder.execute("ROLLBACK")
    with write_transaction(engine) as conn:  # the pooled connection still works
        conn.execute(text("INSERT INTO t VALUES (2)"))
