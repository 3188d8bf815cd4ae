"""The repairer's loop collects garbage on its own clock (a tenth of GC_GRACE, at most a
minute), and again at once while a collection leaves some behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app.cluster.node_client import NodeClient
from app.master.replication import MAX_COLLECT_EVERY, Repairer
from app.metadata.catalogue_schema import blobs
from app.metadata.cluster import ClusterStore
from app.metadata.engine import make_engine, sqlite_url
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.namespace import NamespaceStore
from app.metadata.uploads import UploadStore


class Catalogue:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.engine = make_engine(sqlite_url(tmp_path / "meta.db"))
        self.store = FileCatalogue(self.engine)

    def repairer(self, gc_grace: float, batch: int = 200) -> Repairer:
        return Repairer(
            self.store,
            UploadStore(self.store),
            NamespaceStore(self.engine),
            ClusterStore(self.engine),
            NodeClient(),
            replication=1,
            node_timeout=15.0,
            repair_grace=300.0,
            gc_grace=gc_grace,
            trash_retention=86_400.0,
            version_retention=86_400.0,
            interval=5.0,
            batch=batch,
            lock_path=self.tmp_path / "repair.lock",
        )

    def add_garbage(self, *hashes: str) -> None:
        """Blobs no file refers to, last referenced long ago."""
        for blob_hash in hashes:
            self.store.register_blob(blob_hash, 1, [])
        with self.engine.begin() as conn:
            conn.execute(update(blobs).where(blobs.c.hash.in_(hashes)).values(referenced_at=0))

    def blobs(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(blobs)).scalar_one())


@pytest.fixture
def catalogue(tmp_path: Path) -> Catalogue:
    return Catalogue(tmp_path)


def test_garbage_is_looked_for_every_tenth_of_the_grace(catalogue):
    repairer = catalogue.repairer(gc_grace=100.0)
    catalogue.add_garbage("g1")
    assert repairer.run_scheduled(1000.0).collected == 1
    catalogue.add_garbage("g2")
    assert repairer.run_scheduled(1005.0).collected == 0
    assert catalogue.blobs() == 1
    assert repairer.run_scheduled(1010.0).collected == 1
    assert catalogue.blobs() == 0


def test_a_long_grace_is_looked_at_once_a_minute_and_a_short_one_every_pass(catalogue):
    assert catalogue.repairer(gc_grace=3600.0).collect_every == MAX_COLLECT_EVERY
    repairer = catalogue.repairer(gc_grace=0.0)
    for now in (1.0, 1.5, 2.0):
        catalogue.add_garbage(f"g{now}")
        assert repairer.run_scheduled(now).collected == 1


def test_a_collection_that_stopped_at_the_batch_size_goes_on_at_the_next_pass(catalogue):
    repairer = catalogue.repairer(gc_grace=100.0, batch=1)
    catalogue.add_garbage("g1", "g2", "g3")
    assert [repairer.run_scheduled(now).collected for now in (0.0, 1.0, 2.0, 3.0)] == [1, 1, 1, 0]
    catalogue.add_garbage("g4")
    assert repairer.run_scheduled(4.0).collected == 0  # none was left at 3.0: the clock again
    assert repairer.run_scheduled(12.9).collected == 0
    assert repairer.run_scheduled(13.0).collected == 1


def test_a_pass_asked_for_collects_whatever_the_clock(catalogue):
    repairer = catalogue.repairer(gc_grace=100.0)
    repairer.run_scheduled(0.0)
    catalogue.add_garbage("g1")
    assert repairer.run_pass().collected == 1
