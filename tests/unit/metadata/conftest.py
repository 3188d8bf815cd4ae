from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from app.metadata.engine import make_engine, sqlite_url

POSTGRES_URL = os.environ.get(
    "MDBX_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The same metadata tests run on SQLite and on PostgreSQL (a schema per test)."""
    if request.param == "sqlite":
        built = make_engine(sqlite_url(tmp_path / "meta.db"))
        yield built
        built.dispose()
        return
    schema = f"mdbx_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    built = make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    yield built
    built.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
