"""DriverStatement: a Core statement compiled once, run on the driver's cursor inside the
connection's transaction, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select

from app.metadata.engine import DriverStatement, write_transaction

metadata = MetaData()
notes = Table(
    "driver_notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("text", String(50), nullable=False),
    Column("flag", Integer, nullable=False, default=0),
)
ROW = ("id", "text", "flag")


@pytest.fixture
def table(engine):
    metadata.create_all(engine)
    return engine


def test_rows_are_bound_by_name_whatever_the_driver_paramstyle(table):
    insert = DriverStatement(table, notes.insert(), ROW)
    with write_transaction(table) as conn:
        # Keys in another order than the columns', and one the statement does not use.
        insert.run(
            conn,
            [{"text": "a", "flag": 0, "id": 1, "unused": 0}, {"flag": 1, "text": "b", "id": 2}],
        )
    with table.connect() as conn:
        assert conn.execute(select(notes.c.id, notes.c.text).order_by(notes.c.id)).all() == [
            (1, "a"),
            (2, "b"),
        ]


def test_it_runs_in_the_connection_transaction_and_is_undone_with_it(table):
    insert = DriverStatement(table, notes.insert(), ROW)
    with pytest.raises(RuntimeError), write_transaction(table) as conn:
        insert.run(conn, [{"id": 1, "text": "a", "flag": 0}])
        raise RuntimeError("the transaction fails after the statement")
    with table.connect() as conn:
        assert conn.execute(select(notes.c.id)).all() == []


def test_rows_reads_what_a_select_returns_and_nothing_runs_for_no_rows(table):
    insert = DriverStatement(table, notes.insert(), ROW)
    find = DriverStatement(table, select(notes.c.text).where(notes.c.id == bindparam("wanted")))
    with write_transaction(table) as conn:
        insert.run(conn, [])
        insert.run(conn, [{"id": 7, "text": "seven", "flag": 0}])
        assert find.rows(conn, {"wanted": 7}) == [("seven",)]
        assert find.rows(conn, {"wanted": 8}) == []


def test_an_insert_whose_rows_leave_out_a_column_with_a_default_is_refused(table):
    with pytest.raises(ValueError, match="flag"):
        DriverStatement(table, notes.insert(), ("id", "text"))
