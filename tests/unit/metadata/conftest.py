from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.metadata.engine import make_engine, sqlite_url
from tests.support.postgres import postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The same metadata tests run on SQLite and on PostgreSQL (a schema per test)."""
    if request.param == "sqlite":
        built = make_engine(sqlite_url(tmp_path / "meta.db"))
        yield built
        built.dispose()
        return
    with postgres_schema() as url:
        built = make_engine(url)
        yield built
        built.dispose()
