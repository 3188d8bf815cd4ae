"""A database made by an earlier release gains the columns added since, in place."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, MetaData, String, Table, inspect, text

from app.metadata.engine import ensure_schema
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.records import FileRecord
from app.metadata.schema import master_metadata


def test_an_older_files_table_gains_its_new_columns(engine):
    old = MetaData()
    Table(
        "files",
        old,
        Column("hash", String(128), primary_key=True),
        Column("name", String(1024), nullable=False),
        Column("size", BigInteger, nullable=False),
        Column("created_at", Float, nullable=False),
        Column("updated_at", Float, nullable=False),
    )
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO files VALUES ('k1', 'old.txt', 3, 1.0, 1.0)"))
    ensure_schema(master_metadata, engine)
    columns = {c["name"] for c in inspect(engine).get_columns("files")}
    assert {"block_size", "public"} <= columns
    store = FileCatalogue(engine)
    assert store.get("k1") == FileRecord("k1", "old.txt", 3)  # public, one blob
    assert store.blob_copies(["k1"]) == {"k1": ()}  # and that blob is known as one
    ensure_schema(master_metadata, engine)  # a second start changes nothing
