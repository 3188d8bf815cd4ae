"""The settings table: named values set and read back, and set by many processes at once
on one new database (two masters starting on an empty PostgreSQL)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from app.metadata.schema import settings
from app.metadata.settings import SettingStore

WRITERS = 8


def test_a_value_is_set_then_changed(engine: Engine):
    store = SettingStore(engine, settings)
    assert store.get("epoch") is None
    store.put("epoch", "one")
    store.put("epoch", "two")
    assert store.get("epoch") == "two"


def test_writers_setting_a_new_name_at_once_all_succeed(engine: Engine):
    """An update then an insert let two writers both insert, and the second one failed
    (a master's worker failed to boot); the upsert takes every writer."""
    stores = [SettingStore(engine, settings) for _ in range(WRITERS)]
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        start.wait(timeout=10)
        try:
            stores[index].put("recovery_pending", f"writer {index}")
        except BaseException as exc:  # recorded: the assertion names it
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert stores[0].get("recovery_pending") in {f"writer {n}" for n in range(WRITERS)}
