from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from app.errors import BlobNotFound, InvalidHash
from app.storage.blobstore import FileBlobStore


def put(store: FileBlobStore, data: bytes) -> str:
    writer = store.open_writer()
    writer.write(data)
    return store.commit(writer).digest


def flip_byte(path: Path, offset: int = 0) -> None:
    """Corrupt a blob in place, as bit rot would: same size, same inode."""
    with path.open("r+b") as blob:
        blob.seek(offset)
        byte = blob.read(1)
        blob.seek(offset)
        blob.write(bytes([byte[0] ^ 0x01]))


def test_verify_tells_a_healthy_blob_from_a_rotten_one(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    digest = put(store, os.urandom(300_000))
    assert store.verify(digest) is True
    flip_byte(store.locate(digest), offset=123_456)
    assert store.verify(digest) is False
    assert store.verify("e" * 64) is None


def test_verify_streams_in_chunks_through_the_throttle(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    digest = put(store, os.urandom(10_000))
    reads: list[int] = []
    assert store.verify(digest, chunk_size=4096, throttle=reads.append) is True
    assert reads == [4096, 4096, 1808]


def test_verify_of_the_empty_blob(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    digest = put(store, b"")
    assert store.verify(digest) is True


def test_verify_reads_one_file_even_if_the_path_is_replaced_meanwhile(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    data = os.urandom(50_000)
    digest = put(store, data)
    path = store.locate(digest)
    flip_byte(path)
    good = tmp_path / "good-copy"
    good.write_bytes(data)

    def replace_once(_size: int) -> None:
        if good.exists():
            os.replace(good, path)  # what a repair's commit does

    # The open fd still reads the rotten inode: the first verdict stays False ...
    assert store.verify(digest, chunk_size=4096, throttle=replace_once) is False
    # ... and a fresh open sees the complete replacement.
    assert store.verify(digest) is True


def test_quarantine_moves_the_blob_out_of_reach(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    data = os.urandom(5000)
    digest = put(store, data)
    healthy = put(store, b"healthy")
    assert store.exists(digest)  # now in the existence cache
    flip_byte(store.locate(digest))

    moved = store.quarantine(digest)

    assert moved is not None and moved.parent == tmp_path / "quarantine"
    assert moved.name.startswith(f"{digest}.") and moved.name.split(".")[1].isdigit()
    assert hashlib.sha256(moved.read_bytes()).hexdigest() != digest
    with pytest.raises(BlobNotFound):
        store.locate(digest)
    assert not store.exists(digest)
    assert [d for d, _ in store.iter_blobs()] == [healthy]
    assert store.quarantine(digest) is None


def test_a_quarantined_blob_can_be_stored_again(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    data = os.urandom(5000)
    digest = put(store, data)
    sibling = FileBlobStore(tmp_path)  # another worker of the same node
    assert sibling.exists(digest)  # caches "exists"
    first = store.quarantine(digest)

    # The repair lands on the sibling, whose cache still says "exists".
    writer = sibling.open_writer()
    writer.write(data)
    assert sibling.commit(writer).created
    assert store.locate(digest).read_bytes() == data

    second = store.quarantine(digest)
    assert first is not None and second is not None and first != second
    assert first.exists() and second.exists()


def test_delete_removes_a_blob_once(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    digest = put(store, b"short-lived")
    kept = put(store, b"kept")
    assert store.exists(digest)
    assert store.delete(digest) is True
    assert store.delete(digest) is False
    assert not store.exists(digest)
    with pytest.raises(BlobNotFound):
        store.locate(digest)
    assert store.locate(kept).read_bytes() == b"kept"
    assert put(store, b"short-lived") == digest  # storable again


@pytest.mark.parametrize("bad", ["", "../" + "a" * 61, "A" * 64, "a" * 63])
def test_delete_and_quarantine_refuse_non_digests(tmp_path: Path, bad: str):
    store = FileBlobStore(tmp_path)
    with pytest.raises(InvalidHash):
        store.delete(bad)
    with pytest.raises(InvalidHash):
        store.quarantine(bad)


def test_uploads_leave_the_existence_cache_to_the_lookups_that_use_it(tmp_path: Path):
    store = FileBlobStore(tmp_path, cache_size=8)
    digests = [put(store, os.urandom(100)) for _ in range(20)]
    store.persist([store.seal_bytes(os.urandom(100)) for _ in range(20)])
    assert len(store._known) == 0  # a node's 65,536 per worker held 13 MB of digests
    assert all(store.exists(d) for d in digests)
    assert len(store._known) == 8


def test_a_blob_deleted_behind_the_stores_back_is_found_gone_on_disk(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    digest = put(store, b"soon gone")
    assert store.exists(digest) and store.on_disk(digest)
    store.path_for(digest).unlink()
    assert store.exists(digest)  # the cache still says so
    assert not store.on_disk(digest)
    assert not store.exists(digest)  # and no longer, once the disk said otherwise
