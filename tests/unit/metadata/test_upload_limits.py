"""What one client may hold open of block uploads (#17), on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest

from app.errors import TooManyRequests
from app.metadata.file_catalogue import FileCatalogue
from app.metadata.uploads import OpenUploadLimits, UploadStore

A = "aa" * 32
LIMITS = OpenUploadLimits(uploads=3, blocks=10)


def begin(store: UploadStore, owner: str, blocks: int = 1, ttl: float = 60.0):
    listed = [(A, 1)] * blocks
    return store.begin("f", blocks, A, 65536, listed, ttl, owner=owner, limits=LIMITS)


def refusal(store: UploadStore, owner: str, blocks: int = 1) -> str:
    with pytest.raises(TooManyRequests) as caught:
        begin(store, owner, blocks)
    assert caught.value.status == 429
    return caught.value.code


def test_open_uploads_per_owner_are_capped(engine):
    store = UploadStore(FileCatalogue(engine))
    opened = [begin(store, "addr:10.0.0.1") for _ in range(3)]
    assert refusal(store, "addr:10.0.0.1") == "too_many_open_uploads"
    begin(store, "addr:10.0.0.2")  # another client has its own
    begin(store, "")  # the master's own ingest is not counted
    store.abort(opened[0].id)
    begin(store, "addr:10.0.0.1")  # room again once one is closed
    assert refusal(store, "addr:10.0.0.1") == "too_many_open_uploads"


def test_the_blocks_they_list_are_capped(engine):
    store = UploadStore(FileCatalogue(engine))
    begin(store, "token:x", blocks=6)
    assert refusal(store, "token:x", blocks=5) == "too_many_open_blocks"
    begin(store, "token:x", blocks=4)  # exactly the cap
    assert refusal(store, "token:x", blocks=1) == "too_many_open_blocks"


def test_expired_uploads_do_not_count(engine):
    store = UploadStore(FileCatalogue(engine))
    for _ in range(3):
        begin(store, "addr:x", blocks=3, ttl=-1.0)  # expired already, not collected yet
    assert begin(store, "addr:x", blocks=3).expires_at > time.time()
    assert store.expire() == 3
