"""A few named values kept beside a catalogue: keys, lists learned from the masters.

The master keeps the key that signs node URLs in open mode here (every master on the
database reads the same one); a node keeps what its masters told it, which one worker
hears and every worker reads.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Column, Engine, MetaData, String, Table, Text, select
from sqlalchemy.exc import IntegrityError

from app.metadata.engine import dialect_insert, ensure_schema, write_transaction


def settings_table(metadata: MetaData) -> Table:
    """A few named values of the cluster's state (keys, markers of migrations done)."""
    return Table(
        "settings",
        metadata,
        Column("name", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )


class SettingStore:
    """Named text values in one table (``schema.settings`` or ``node_schema.node_settings``)."""

    def __init__(self, engine: Engine, table: Table) -> None:
        self.engine = engine
        self.table = table
        ensure_schema(table.metadata, engine)

    def get(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(self.table.c.value).where(self.table.c.name == name)
            ).scalar_one_or_none()
        return value

    def put(self, name: str, value: str) -> None:
        """Set ``name`` to ``value`` (a no-op write when it holds that already)."""
        if self.get(name) == value:
            return
        # One upsert: an update then an insert raced between processes starting on one
        # new database (two masters on PostgreSQL), and the second insert failed a boot.
        insert = dialect_insert(self.engine)(self.table).values(name=name, value=value)
        with write_transaction(self.engine) as conn:
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=[self.table.c.name], set_={"value": value}
                )
            )

    def get_or_create(self, name: str, make: Callable[[], str]) -> str:
        """The value of ``name``; the first caller ever stores ``make()``, every later
        one (on any process sharing the database) reads that."""
        value = self.get(name)
        if value is not None:
            return value
        try:
            with write_transaction(self.engine) as conn:
                conn.execute(self.table.insert(), {"name": name, "value": make()})
        except IntegrityError:
            pass  # another process stored one first: that is the one
        value = self.get(name)
        assert value is not None
        return value
