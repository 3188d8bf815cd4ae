"""What a tus PATCH costs the master's database: its write transactions (#21).

Each commit of SQLite's is a sync of its journal, and they were half of the master's
time on a PATCH: seven for a PATCH of two blocks. A block needs one before it is written
(its reference, which keeps a collection from deleting it meanwhile); the rest of a
PATCH's bookkeeping is one."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import event, func, select

from app.metadata.upload_schema import uploads
from tests.api import test_tus as tus
from tests.api.test_tus import BLOCK, MIB, blob_count, create, head, patch, read_back

node, overrides, master_app, master, alice = (
    tus.node,
    tus.overrides,
    tus.master_app,
    tus.master,
    tus.alice,
)

CHUNK = 8 * MIB  # the master's chunk: two blocks


@pytest.fixture
def commits(master_app) -> list[int]:
    """One entry per commit of the master's database, from now on."""
    engine = master_app.extensions["mdbx.master"].writes.upload_store.engine
    counted: list[int] = []

    def count(_conn) -> None:
        counted.append(1)

    event.listen(engine, "commit", count)
    yield counted
    event.remove(engine, "commit", count)


def open_uploads(app) -> int:
    engine = app.extensions["mdbx.master"].writes.upload_store.engine
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(uploads)).scalar_one()


def test_a_block_aligned_patch_is_one_commit_per_block_and_one_more(
    master_app, master, alice, commits, node
):
    data = os.urandom(3 * CHUNK + 100)
    url = create(master, alice, len(data), "/counted.bin")
    for offset in range(0, 3 * CHUNK, CHUNK):
        before = len(commits)
        reply = patch(master, alice, url, offset, data[offset : offset + CHUNK])
        assert reply.status_code == 204
        # HEAD answers once the PATCH settled: its commits are all made by then.
        assert int(head(master, alice, url).headers["Upload-Offset"]) == offset + CHUNK
        assert len(commits) - before <= CHUNK // BLOCK + 1
    last = patch(master, alice, url, 3 * CHUNK, data[3 * CHUNK :])
    assert last.status_code == 204
    assert read_back(master, alice, "/counted.bin") == data
    # Every block has its copy: the copies recorded at the PATCH's end are the real ones.
    assert blob_count(node) == 3 * CHUNK // BLOCK + 1 + 1  # the blocks, and the manifest
    # Each PATCH's own block upload was closed with it: none holds a reference still.
    assert open_uploads(master_app) == 0


def test_a_patch_cut_at_a_block_boundary_resumes_from_its_blocks(master, alice, commits):
    """A PATCH ending between boundaries leaves a short block, read back and replaced by
    the next one, whose commits stay bounded too (plus the short block's release)."""
    data = os.urandom(2 * CHUNK)
    url = create(master, alice, len(data), "/short.bin")
    assert patch(master, alice, url, 0, data[: BLOCK + MIB]).status_code == 204
    before = len(commits)
    assert patch(master, alice, url, BLOCK + MIB, data[BLOCK + MIB : CHUNK]).status_code == 204
    assert int(head(master, alice, url).headers["Upload-Offset"]) == CHUNK
    assert len(commits) - before <= 1 + 1 + 1  # one block (the short one, completed)
    assert patch(master, alice, url, CHUNK, data[CHUNK:]).status_code == 204
    assert read_back(master, alice, "/short.bin") == data
