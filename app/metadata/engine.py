"""Engines for SQLite (WAL, busy timeout, BEGIN IMMEDIATE for writes) and PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    create_engine,
    event,
    func,
    inspect,
    literal,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import ClauseElement

WRITE_OPTION = "mdbx_write"
# Bound parameters per IN list: far below SQLite's and PostgreSQL's limits.
IN_BATCH = 5_000
BUSY_TIMEOUT_SECONDS = 30
# Waits between attempts to take SQLite's write lock: short, since a writer holds it for
# one commit (about a millisecond), and capped so that a waiter keeps trying often.
FIRST_LOCK_WAIT = 0.0005
MAX_LOCK_WAIT = 0.002


def batches(items: Sequence[Any], size: int = IN_BATCH) -> Iterator[Sequence[Any]]:
    """Yield ``items`` in slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def dialect_insert(bind: Engine | Connection) -> Callable[[Table], Any]:
    """The INSERT of ``bind``'s database, whose ON CONFLICT clauses (PostgreSQL's or
    SQLite's, spelled alike) the catalogue's upserts use."""
    if bind.dialect.name == "postgresql":
        # Imported here: every node and most masters run on SQLite only, and the
        # PostgreSQL dialect (with its asyncpg half) was ~20 ms of each worker's boot.
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    return sqlite.insert


def sqlite_url(path: Path) -> str:
    """Return the SQLAlchemy URL of the SQLite file at ``path``."""
    return f"sqlite:///{path}"


def make_engine(url: str, *, synchronous: str = "FULL") -> Engine:
    """Create an engine; for SQLite, set up WAL and the write-transaction discipline.

    ``synchronous`` is SQLite's durability level: FULL fsyncs the WAL at every commit
    (survives power loss), NORMAL only at checkpoints (survives a process crash).
    """
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # pysqlite's own implicit transactions get in the way of BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A deferred transaction that later writes cannot wait out a busy writer in WAL
        # mode (SQLITE_BUSY at once); IMMEDIATE takes the write lock up front.
        if conn.get_execution_options().get(WRITE_OPTION, False):
            _begin_immediate(conn.connection.dbapi_connection)  # type: ignore[arg-type]
        else:  # on the driver: SQLAlchemy's execution costs more than the BEGIN
            conn.connection.dbapi_connection.execute("BEGIN")  # type: ignore[union-attr]

    return engine


def _begin_immediate(dbapi_connection: sqlite3.Connection) -> None:
    """Take SQLite's write lock, waiting with ``time.sleep`` while another process has it.

    SQLite's own busy handler sleeps inside C: under gevent that freezes every request of
    the worker for as long as a sibling worker commits. ``time.sleep`` is gevent's in a
    worker (other requests run, and queue up for the next group commit) and a plain
    sleep elsewhere.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    wait = FIRST_LOCK_WAIT
    dbapi_connection.execute("PRAGMA busy_timeout=0")
    try:
        while True:
            try:
                dbapi_connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() >= deadline:
                    raise
            time.sleep(wait)
            wait = min(wait * 2, MAX_LOCK_WAIT)
    finally:
        dbapi_connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")


def ensure_schema(metadata: MetaData, engine: Engine, attempts: int = 10) -> None:
    """Create missing tables and columns, then run the metadata's ``migrations`` (each in
    a write transaction); tolerate other workers doing the same at once."""
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            add_missing_columns(metadata, engine)
            for migration in metadata.info.get("migrations", ()):
                with write_transaction(engine) as conn:
                    migration(conn)
            return
        except DBAPIError:
            # "already exists" or a busy lock from a sibling worker's CREATE: look again.
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def add_missing_columns(metadata: MetaData, engine: Engine) -> list[str]:
    """Add the columns a newer release defines to tables an older one created.

    Only additive changes with a constant default are made this way (every column added
    so far is one); anything else would need a real migration. Returns what was added.
    """
    inspector = inspect(engine)
    added = []
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            present = {column["name"] for column in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                default = getattr(column.default, "arg", None)
                if default is None or callable(default):
                    raise RuntimeError(
                        f"the database lacks {table.name}.{column.name}, which cannot be added "
                        "in place: move the data directory away or migrate it"
                    )
                kind = column.type.compile(dialect=engine.dialect)
                literal = repr(default)
                if isinstance(default, bool):  # before int: True == 1 in Python
                    sqlite = engine.dialect.name == "sqlite"
                    literal = str(int(default)) if sqlite else str(default).upper()
                conn.exec_driver_sql(
                    f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind} '
                    f"NOT NULL DEFAULT {literal}"
                )
                added.append(f"{table.name}.{column.name}")
    return added


def starts_with(column: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
    """True where ``column`` begins with ``prefix``, character for character, on SQLite
    and PostgreSQL alike.

    Not ``LIKE``: SQLite's ignores ASCII case ("/Docs/" matched "/docs/a"), and its
    ``%`` and ``_`` are wildcards. Not a range (``>= prefix``) either: PostgreSQL orders
    text by the database's collation, not by code point. ``substr`` counts characters
    on both databases, as ``len`` does, and ``=`` compares exactly on both.
    """
    return func.substr(column, 1, literal(len(prefix), Integer)) == prefix


def advance_id_sequence(conn: Connection, table: Table) -> None:
    """Set PostgreSQL's sequence of ``table.id`` past the rows there, after rows were
    inserted with their ids (a snapshot restored, an account replayed): the next row
    made gets a new id. SQLite takes the next id from the rows themselves."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
            f"COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)"
        )


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """Yield a connection inside a transaction that will write."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            yield conn


def direct_connection(engine: Engine) -> sqlite3.Connection | None:
    """A sqlite3 connection of its own to the engine's SQLite file, in autocommit mode (each
    read sees the latest commit), for one-row reads made many times a second: a few
    microseconds each, where the engine's checkout alone costs more. None for other
    databases."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return sqlite3.connect(database, check_same_thread=False, isolation_level=None)


class ChangeMarker:
    """Read a version number that writers bump, cheaply, from any process.

    One dedicated sqlite3 connection in autocommit mode runs ``query`` (a single-row,
    single-column SELECT): a few microseconds, and every call sees the latest commit,
    which keeps per-process caches coherent across gunicorn workers. Other databases
    return None (no cache).
    """

    def __init__(self, engine: Engine, query: str) -> None:
        self._query = query
        self._conn = direct_connection(engine)

    def current(self) -> int | None:
        """Return an opaque version number, or None when changes cannot be detected."""
        if self._conn is None:
            return None
        row = self._conn.execute(self._query).fetchone()
        return None if row is None else int(row[0])

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class DriverStatement:
    """A Core statement compiled once for an engine's dialect and run on the driver's
    own cursor, inside the connection's transaction.

    For the registration path's small statements, SQLAlchemy's execution (parameters
    processed per row, a result set up, events) cost three times what SQLite takes to
    run them. Only for statements whose parameters are plain str, int, float and bool,
    which every driver binds as they are; rows are mappings by parameter name, and
    ``keys`` names the columns an insert's rows give (all those with a default too).
    """

    def __init__(
        self, engine: Engine, statement: ClauseElement, keys: Sequence[str] | None = None
    ) -> None:
        dialect = engine.dialect
        if dialect.paramstyle not in ("named", "pyformat"):  # positional: name them
            dialect = cast(Any, type(dialect))(paramstyle="named")
        compiled = statement.compile(dialect=dialect, column_keys=list(keys or ()))
        if keys is not None:
            # An insert that leaves a column out would bind its default: SQLAlchemy's
            # execution fills that in, a driver would ask for it. Say so now.
            unnamed = set(compiled.params) - set(keys)
            if unnamed:
                raise ValueError(f"the rows must also give {sorted(unnamed)}")
        self.sql = str(compiled)

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute once per row (one executemany)."""
        if not rows:
            return
        cursor = conn.connection.cursor()
        try:
            cursor.executemany(self.sql, rows)
        finally:
            cursor.close()

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Execute once with ``params``; return every row."""
        cursor = conn.connection.cursor()
        try:
            cursor.execute(self.sql, params)
            return list(cursor.fetchall())
        finally:
            cursor.close()
