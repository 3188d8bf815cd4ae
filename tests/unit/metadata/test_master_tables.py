"""The master's tables live in one module per domain, all in one MetaData: whatever
creates the master's database has every table, wherever it imported ``master_metadata``.

Each import check runs in a fresh interpreter: ``sys.modules`` of the test run holds
every table module already.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import inspect

import app.metadata
from app.metadata.engine import ensure_schema
from app.metadata.schema import master_metadata

# Every table of the master's database.
MASTER_TABLES = {
    "api_tokens",
    "blobs",
    "catalogue_version",
    "changes",
    "feed_heads",
    "file_blocks",
    "files",
    "fs_entries",
    "fs_versions",
    "journal",
    "manifests",
    "nodes",
    "pending_deletes",
    "replicas",
    "resumable_uploads",
    "settings",
    "shares",
    "snapshot_blocks",
    "snapshots",
    "tombstones",
    "trash",
    "trash_items",
    "upload_blocks",
    "uploads",
    "users",
}
MIGRATIONS = ["count_copies", "mark_private_copies"]

METADATA_DIR = Path(app.metadata.__file__).parent
# The modules that create the master's tables: each must see all of them when it does.
CREATORS = sorted(
    f"app.metadata.{path.stem}"
    for path in METADATA_DIR.glob("*.py")
    if "ensure_schema(master_metadata" in path.read_text()
    or "master_metadata.create_all(" in path.read_text()
)


def test_the_creators_are_found():
    # The stores that open the master's database, and the snapshot restore.
    assert {"app.metadata.accounts", "app.metadata.cluster", "app.metadata.snapshots"} <= set(
        CREATORS
    )


@pytest.mark.parametrize("module", CREATORS)
def test_a_creator_imported_alone_sees_every_table_and_migration(module):
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "from app.metadata.master_metadata import master_metadata as m\n"
        "print(' '.join(sorted(m.tables)))\n"
        "print(' '.join(f.__name__ for f in m.info.get('migrations', ())))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    tables, migrations = result.stdout.splitlines()
    assert set(tables.split()) == MASTER_TABLES
    assert migrations.split() == MIGRATIONS


def test_an_empty_database_gets_every_table(engine):
    ensure_schema(master_metadata, engine)
    assert set(inspect(engine).get_table_names()) == MASTER_TABLES
