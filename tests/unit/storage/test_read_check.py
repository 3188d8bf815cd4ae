from __future__ import annotations

import hashlib
import os

from app.storage import read_check
from app.storage.blobstore import FileBlobStore
from app.storage.read_check import ReadCheck


def check(rc: ReadCheck, path, digest: str) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        return rc.is_sound(digest, fd)
    finally:
        os.close(fd)


def test_a_sound_file_passes_and_a_rewritten_one_is_hashed_again(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 3_000_000)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    rc = ReadCheck(capacity=4)
    assert check(rc, path, digest) and check(rc, path, digest)
    path.write_bytes(b"y" * 3_000_000)  # same size, new times
    assert not check(rc, path, digest)
    path.write_bytes(b"x" * 2_999_999)
    assert not check(rc, path, digest)


def test_the_file_offset_is_left_for_sendfile(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"abc")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert ReadCheck().is_sound(hashlib.sha256(b"abc").hexdigest(), fd)
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0
    finally:
        os.close(fd)


def test_a_blob_the_store_wrote_is_not_hashed_at_its_first_read_until_it_changes(
    tmp_path, monkeypatch
):
    store = FileBlobStore(tmp_path, fsync=False)
    data = b"z" * 100_000
    digest = store.persist([store.seal_bytes(data)])[0].digest
    path = store.file_name(digest)
    hashed = []
    real_hash = read_check.hash_fd
    monkeypatch.setattr(read_check, "hash_fd", lambda fd: hashed.append(fd) or real_hash(fd))
    assert check(store.read_check, path, digest) and hashed == []  # known from its write
    # A change after the write (its times move) is hashed, and found.
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, b"!", 500)
    finally:
        os.close(fd)
    assert not check(store.read_check, path, digest) and len(hashed) == 1
    # Bytes stored again while the blob is there wrote nothing: nothing new is noted.
    store.persist([store.seal_bytes(data)])
    assert not check(store.read_check, path, digest)


def test_a_blob_linked_into_place_stays_checked_when_its_kept_sealed_name_goes(
    tmp_path, monkeypatch
):
    # Without a journal a blob keeps its sealed name until the next batch's sync; dropping
    # that name moves the file's ctime, which alone must not make its first read hash it.
    store = FileBlobStore(tmp_path, atomic_renames=False)
    digest = store.persist([store.seal_bytes(b"linked" * 1000)])[0].digest
    assert len(list(store.tmp_dir.glob("sealed-*"))) == 1
    store.persist([store.seal_bytes(b"the next batch")])
    assert [p.name.split("-")[1] for p in store.tmp_dir.glob("sealed-*")] != [digest]
    hashed = []
    real_hash = read_check.hash_fd
    monkeypatch.setattr(read_check, "hash_fd", lambda fd: hashed.append(fd) or real_hash(fd))
    assert check(store.read_check, store.file_name(digest), digest) and hashed == []
