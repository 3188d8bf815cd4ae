"""SQLite write transactions wait for a busy writer with time.sleep, not inside SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from app.metadata import engine as engine_module
from app.metadata.engine import make_engine, sqlite_url, write_transaction


def _holder(path: Path) -> sqlite3.Connection:
    """Another process's connection, as a sibling worker would hold it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn


def test_a_writer_waits_for_the_lock_with_time_sleep_and_then_writes(tmp_path, monkeypatch):
    path = tmp_path / "wait.db"
    engine = make_engine(sqlite_url(path))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
    holder = _holder(path)
    holder.execute("BEGIN IMMEDIATE")
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
    holder.close()


def test_a_writer_gives_up_after_the_busy_timeout(tmp_path, monkeypatch):
    path = tmp_path / "stuck.db"
    engine = make_engine(sqlite_url(path))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
    holder = _holder(path)
    holder.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(engine_module, "BUSY_TIMEOUT_SECONDS", 0.05)
    with pytest.raises(Exception, match="locked"), write_transaction(engine) as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
    holder.execute("ROLLBACK")
    with write_transaction(engine) as conn:  # the pooled connection still works
        conn.execute(text("INSERT INTO t VALUES (2)"))
    holder.close()
