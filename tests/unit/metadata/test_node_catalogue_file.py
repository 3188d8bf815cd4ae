from __future__ import annotations

import os

from app.metadata.node_catalogue_file import corruption_of, open_node_catalogue


def test_a_corrupt_catalogue_is_set_aside_and_an_empty_one_opened(tmp_path):
    path = tmp_path / "catalog.db"
    catalogue = open_node_catalogue(path)
    catalogue.record("a" * 64, "a.txt", 3)
    catalogue.engine.dispose()
    assert corruption_of(path) is None
    with path.open("r+b") as db:
        db.write(os.urandom(200))  # the header
    assert corruption_of(path) is not None

    fresh = open_node_catalogue(path)
    assert fresh.get("a" * 64) is None
    assert fresh.stats().blobs == 0
    (aside,) = tmp_path.glob("catalog.db.corrupt-*[0-9]")
    assert aside.stat().st_size > 0
    fresh.engine.dispose()


def test_a_sound_catalogue_is_opened_as_it_is(tmp_path):
    path = tmp_path / "catalog.db"
    open_node_catalogue(path).record("b" * 64, "b.txt", 3)
    assert open_node_catalogue(path).get("b" * 64).name == "b.txt"
    assert not list(tmp_path.glob("*.corrupt-*"))
