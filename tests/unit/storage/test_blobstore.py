from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from app.errors import HashMismatch, InsufficientStorage, InvalidHash, PayloadTooLarge
from app.storage.blobstore import FileBlobStore
from app.storage.digests import parse_digest
from app.storage.durability import renames_survive_crashes
from tests.support.node_temp import stray_temp_files


def put(store: FileBlobStore, data: bytes, expected: str | None = None):
    writer = store.open_writer()
    for start in range(0, len(data), 7000):
        writer.write(data[start : start + 7000])
    return store.commit(writer, expected)


def test_blob_is_stored_under_its_sha256_with_fan_out(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    data = os.urandom(50_000)
    stored = put(store, data)
    digest = hashlib.sha256(data).hexdigest()
    assert stored.digest == digest and stored.size == len(data) and stored.created
    path = store.locate(digest)
    assert path == tmp_path / "blobs" / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == data
    assert stray_temp_files(store.root) == []


def test_storing_known_bytes_again_is_a_no_op(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    first = put(store, b"twice")
    mtime = store.locate(first.digest).stat().st_mtime_ns
    second = put(store, b"twice")
    assert second.digest == first.digest and not second.created
    assert store.locate(first.digest).stat().st_mtime_ns == mtime
    assert stray_temp_files(store.root) == []


def test_empty_blob(tmp_path: Path):
    stored = put(FileBlobStore(tmp_path), b"")
    assert stored.digest == hashlib.sha256(b"").hexdigest() and stored.size == 0


def test_expected_digest_mismatch_keeps_nothing(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    with pytest.raises(HashMismatch):
        put(store, b"data", expected="0" * 64)
    assert list(store.iter_blobs()) == []
    assert stray_temp_files(store.root) == []


def test_size_cap_raises_and_abort_removes_the_temp_file(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    writer = store.open_writer(max_size=10)
    writer.write(b"0123456789")
    with pytest.raises(PayloadTooLarge):
        writer.write(b"x")
    writer.abort()
    writer.abort()  # idempotent
    assert stray_temp_files(store.root) == []


def test_writer_context_aborts_on_error(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    with pytest.raises(RuntimeError), store.open_writer() as writer:
        writer.write(b"partial")
        raise RuntimeError("client went away")
    assert stray_temp_files(store.root) == []


def test_free_space_reserve_refuses_writes(tmp_path: Path):
    store = FileBlobStore(tmp_path, min_free_bytes=2**62)
    with pytest.raises(InsufficientStorage):
        store.open_writer()
    assert stray_temp_files(store.root) == []


def test_locate_unknown_blob_raises(tmp_path: Path):
    from app.errors import BlobNotFound

    with pytest.raises(BlobNotFound):
        FileBlobStore(tmp_path).locate("a" * 64)


@pytest.mark.parametrize(
    "bad",
    ["", "../../etc/passwd", "a" * 63, "a" * 65, "g" * 64, "/" + "a" * 63, None]
    # JSON values a client may send where a hash goes (a dict was a 500 on /replicate).
    + [{"a": 1}, ["a" * 64], 42, True],
)
def test_parse_digest_refuses_anything_but_64_hex(bad):
    with pytest.raises(InvalidHash):
        parse_digest(bad)


def test_parse_digest_normalises_case():
    assert parse_digest(" " + "AB" * 32 + " ") == "ab" * 32


def test_existence_cache_is_bounded(tmp_path: Path):
    store = FileBlobStore(tmp_path, cache_size=3)
    digests = [put(store, bytes([i])).digest for i in range(10)]
    assert all(store.exists(d) for d in digests)
    assert len(store._known) == 3


def test_clean_temp_removes_only_stale_files(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    stale = store.tmp_dir / "upload-left-by-a-crash.tmp"  # as a killed worker leaves it
    stale.write_bytes(b"old")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    active = store.open_writer()
    active.write(b"new")
    assert store.clean_temp(older_than=600) == 1
    assert not stale.exists()
    assert active.path.exists()
    assert store.commit(active).size == 3


def test_iter_blobs_lists_digests_and_sizes(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    expected = {put(store, os.urandom(n)).digest: n for n in (1, 10, 100)}
    assert dict(store.iter_blobs()) == expected


def test_concurrent_writers_of_the_same_bytes_leave_one_blob(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    data = os.urandom(100_000)
    results = []

    def writer():
        results.append(put(store, data))

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 8
    assert sum(result.created for result in results) == 1
    assert [d for d, _ in store.iter_blobs()] == [hashlib.sha256(data).hexdigest()]
    assert stray_temp_files(store.root) == []


def seal(store: FileBlobStore, data: bytes):
    writer = store.open_writer()
    writer.write(data)
    return store.seal(writer)


def test_a_batch_is_made_durable_in_one_sync_before_any_blob_has_its_name(
    tmp_path: Path, monkeypatch
):
    store = FileBlobStore(tmp_path, atomic_renames=True)
    bodies = [os.urandom(100) for _ in range(5)] + [b"same", b"same"]
    # Streamed into temp files, and (every other one) received whole and held in memory.
    sealed = [
        seal(store, body) if i % 2 else store.seal_bytes(body) for i, body in enumerate(bodies)
    ]
    assert not any(blob.path.exists() for blob in sealed if blob.data is not None)
    targets = [store.path_for(blob.digest) for blob in sealed]
    seen: list[tuple[int, list[str]]] = []
    sync_sealed = store._sync_sealed

    def check(paths):
        # The bytes and the sealed names are synced before any blob has its name.
        present = sorted(p.name for p in store.tmp_dir.iterdir())
        seen.append((sum(t.exists() for t in targets), [Path(p).name for p in paths], present))
        sync_sealed(paths)

    monkeypatch.setattr(store, "_sync_sealed", check)
    stored = store.persist(sealed)
    [(named, synced, present)] = seen  # one sync for the whole batch
    assert named == 0
    assert sorted(synced) == present  # every file of the batch, under its sealed name
    assert [name.split("-")[1] for name in synced] == [blob.digest for blob in sealed]
    assert [s.created for s in stored] == [True] * 6 + [False]
    assert [store.locate(s.digest).read_bytes() for s in stored] == bodies
    assert stray_temp_files(store.root) == []


def test_syncfs_makes_a_batch_durable_with_one_call(tmp_path: Path, monkeypatch):
    store = FileBlobStore(tmp_path, atomic_renames=True)
    assert store._syncfs is not None  # Linux: the path production takes
    calls: list[int] = []
    real = store._syncfs
    monkeypatch.setattr(store, "_syncfs", lambda fd: calls.append(fd) or real(fd))
    store.persist([seal(store, os.urandom(10)) for _ in range(20)])
    assert len(calls) == 1


def test_without_syncfs_every_sealed_file_and_the_temp_dir_are_fsynced(tmp_path: Path, monkeypatch):
    store = FileBlobStore(tmp_path, syncfs=False, atomic_renames=True)
    synced: list[tuple[str, bool]] = []
    monkeypatch.setattr(
        "app.storage.blobstore.fsync_path",
        lambda path, data_only=False: synced.append((str(path), data_only)),
    )
    sealed = [seal(store, os.urandom(10)) for _ in range(3)]
    store.persist(sealed)
    files = sorted(Path(path).name for path, data_only in synced if data_only)
    assert [name.split("-")[1] for name in files] == sorted(blob.digest for blob in sealed)
    assert [path for path, data_only in synced if not data_only] == [str(store.tmp_dir)]


def test_a_sealed_blob_whose_move_a_crash_lost_is_recovered_and_a_torn_one_dropped(
    tmp_path: Path,
):
    store = FileBlobStore(tmp_path)
    whole, torn, placed = os.urandom(5000), os.urandom(5000), os.urandom(10)
    digest = hashlib.sha256(whole).hexdigest()
    torn_digest = hashlib.sha256(torn).hexdigest()
    (store.tmp_dir / f"sealed-{digest}-upload-a").write_bytes(whole)
    (store.tmp_dir / f"sealed-{torn_digest}-upload-b").write_bytes(torn[:1000])
    # A sealed file whose blob is in place already (its move survived): dropped.
    put(store, placed)
    placed_digest = hashlib.sha256(placed).hexdigest()
    (store.tmp_dir / f"sealed-{placed_digest}-upload-c").write_bytes(placed)
    (store.tmp_dir / "upload-d.tmp").write_bytes(b"an upload in flight")
    assert store.recover_sealed() == 1
    assert store.locate(digest).read_bytes() == whole
    assert not store.exists(torn_digest)
    assert store.locate(placed_digest).read_bytes() == placed
    assert [p.name for p in store.tmp_dir.iterdir()] == ["upload-d.tmp"]


def test_recovery_spares_sealed_files_younger_than_asked(tmp_path: Path):
    store = FileBlobStore(tmp_path)
    data = os.urandom(100)
    digest = hashlib.sha256(data).hexdigest()
    young = store.tmp_dir / f"sealed-{digest}-upload-a"
    young.write_bytes(data)
    assert store.recover_sealed(older_than=60) == 0
    assert young.exists() and not store.exists(digest)
    old = time.time() - 120
    os.utime(young, (old, old))
    assert store.recover_sealed(older_than=60) == 1
    assert store.locate(digest).read_bytes() == data


def test_a_failed_sync_keeps_nothing_and_reports_a_full_disk(tmp_path: Path, monkeypatch):
    store = FileBlobStore(tmp_path)

    def full(_paths):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "_sync_sealed", full)
    sealed = [seal(store, os.urandom(10)) for _ in range(3)] + [store.seal_bytes(b"in memory")]
    with pytest.raises(InsufficientStorage):
        store.persist(sealed)
    assert list(store.iter_blobs()) == []
    assert stray_temp_files(store.root) == []


def test_a_large_write_starts_writeback_of_each_full_range(tmp_path: Path, monkeypatch):
    from app.storage import writer as writer_module

    started: list[tuple[int, int, bytes]] = []

    def record(fd: int, offset: int, length: int, flags: int) -> int:
        # The range must be in the file (flushed from Python's buffer) when asked for.
        started.append((offset, length, os.pread(fd, length, offset)))
        return 0

    monkeypatch.setattr(writer_module, "SYNC_FILE_RANGE", record)
    monkeypatch.setattr(writer_module, "WRITEBACK_EVERY", 1000)
    data = os.urandom(2600)
    store = FileBlobStore(tmp_path)
    writer = store.open_writer()
    for start in range(0, len(data), 300):
        writer.write(data[start : start + 300])
    stored = store.commit(writer)
    assert [(offset, length) for offset, length, _ in started] == [(0, 1200), (1200, 1200)]
    assert b"".join(chunk for _, _, chunk in started) == data[:2400]
    assert store.locate(stored.digest).read_bytes() == data


def test_recovery_syncs_the_sealed_files_before_they_move(tmp_path: Path, monkeypatch):
    store = FileBlobStore(tmp_path)
    data = os.urandom(100)
    digest = hashlib.sha256(data).hexdigest()
    (store.tmp_dir / f"sealed-{digest}-upload-a").write_bytes(data)
    synced: list[tuple[list[str], bool]] = []
    monkeypatch.setattr(
        store,
        "_sync_sealed",
        lambda paths: synced.append(([p.name for p in paths], store.exists(digest))),
    )
    assert store.recover_sealed() == 1
    assert synced == [([f"sealed-{digest}-upload-a"], False)]


def test_a_body_held_in_memory_is_checked_against_its_hash_and_the_free_space_reserve(
    tmp_path: Path,
):
    store = FileBlobStore(tmp_path)
    with pytest.raises(HashMismatch):
        store.seal_bytes(b"abc", hashlib.sha256(b"abd").hexdigest())
    sealed = store.seal_bytes(b"abc", hashlib.sha256(b"abc").hexdigest())
    assert (sealed.digest, sealed.size) == (hashlib.sha256(b"abc").hexdigest(), 3)
    assert stray_temp_files(store.root) == []  # nothing is written before its batch
    reserve = FileBlobStore(tmp_path, min_free_bytes=store.free_bytes() + 1)
    with pytest.raises(InsufficientStorage):
        reserve.seal_bytes(b"abc")


def test_a_full_disk_while_a_body_held_in_memory_is_written_leaves_nothing_behind(
    tmp_path: Path, monkeypatch
):
    from app.storage import blobstore

    store = FileBlobStore(tmp_path)
    sealed = [store.seal_bytes(os.urandom(10)), store.seal_bytes(os.urandom(10))]
    real_write = os.write
    writes: list[int] = []

    def fill_up(fd: int, data) -> int:
        writes.append(fd)
        if len(writes) == 2:  # the second file is created, then the disk is full
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(blobstore.os, "write", fill_up)
    with pytest.raises(InsufficientStorage):
        store.persist(sealed)
    assert list(store.iter_blobs()) == []
    assert stray_temp_files(store.root) == []


def test_without_a_journal_a_batch_is_linked_into_place_and_keeps_its_sealed_names_one_sync(
    tmp_path: Path, monkeypatch
):
    store = FileBlobStore(tmp_path, atomic_renames=False)
    sealed = [store.seal_bytes(os.urandom(10)) for _ in range(3)] + [store.seal_bytes(b"x")]
    sealed.append(store.seal_bytes(b"x"))  # a duplicate: one name for both
    targets = sorted({store.path_for(blob.digest) for blob in sealed})
    at_each_sync: list[tuple[int, int]] = []  # (blobs in place, sealed names in tmp)
    real = store._sync_filesystem

    def record() -> bool:
        at_each_sync.append(
            (sum(t.exists() for t in targets), len(list(store.tmp_dir.glob("sealed-*"))))
        )
        return real()

    monkeypatch.setattr(store, "_sync_filesystem", record)
    stored = store.persist(sealed)
    assert at_each_sync == [(0, 5)]  # one sync, before any blob has its name
    kept = sorted(store.tmp_dir.glob("sealed-*"))
    assert len(kept) == 4  # the duplicate's went; each blob keeps one, the same file
    assert sorted(os.stat(k).st_ino for k in kept) == sorted(os.stat(t).st_ino for t in targets)
    assert [store.locate(s.digest).read_bytes() for s in stored] == [b.data for b in sealed]
    at_each_sync.clear()
    store.persist([store.seal_bytes(b"y")])
    # The next batch's one sync made those links durable: only then are the names dropped.
    assert at_each_sync == [(4, 5)]
    assert [k.name.split("-")[1] for k in store.tmp_dir.glob("sealed-*")] == [
        hashlib.sha256(b"y").hexdigest()
    ]


def test_without_a_journal_a_link_a_crash_lost_is_recovered_from_the_kept_name(
    tmp_path: Path,
):
    store = FileBlobStore(tmp_path, atomic_renames=False)
    data = os.urandom(100)
    [blob] = store.persist([store.seal_bytes(data)])
    store.path_for(blob.digest).unlink()  # the link, not yet synced, lost with the machine
    restarted = FileBlobStore(tmp_path, atomic_renames=False)
    assert restarted.recover_sealed() == 1
    assert restarted.locate(blob.digest).read_bytes() == data
    assert list(restarted.tmp_dir.glob("sealed-*")) == []


def test_a_deleted_blob_loses_its_kept_sealed_name_too(tmp_path: Path):
    store = FileBlobStore(tmp_path, atomic_renames=False)
    [blob] = store.persist([store.seal_bytes(b"to be deleted")])
    assert store.delete(blob.digest)
    assert list(store.tmp_dir.glob("sealed-*")) == []
    assert store.recover_sealed() == 0  # nothing left to bring it back
    assert not store.exists(blob.digest)
    store.persist([store.seal_bytes(b"next")])  # the kept list names a file gone: no error


def test_without_syncfs_or_a_journal_the_directories_of_the_new_names_are_fsynced(
    tmp_path: Path, monkeypatch
):
    store = FileBlobStore(tmp_path, syncfs=False, atomic_renames=False)
    synced: list[str] = []
    monkeypatch.setattr(
        "app.storage.blobstore.fsync_path",
        lambda path, data_only=False: None if data_only else synced.append(str(path)),
    )
    [blob] = store.persist([store.seal_bytes(b"abc")])
    shard = store.path_for(blob.digest).parent
    assert synced[0] == str(store.tmp_dir)  # the sealed names, before any move
    assert sorted(synced[1:]) == sorted(
        [str(shard), str(shard.parent), str(store.blob_dir), str(store.tmp_dir)]
    )


def test_recovery_without_a_journal_syncs_the_names_it_gave(tmp_path: Path, monkeypatch):
    store = FileBlobStore(tmp_path, atomic_renames=False)
    data = os.urandom(100)
    digest = hashlib.sha256(data).hexdigest()
    (store.tmp_dir / f"sealed-{digest}-upload-a").write_bytes(data)
    in_place: list[bool] = []
    real = store._sync_filesystem
    monkeypatch.setattr(
        store, "_sync_filesystem", lambda: in_place.append(store.exists(digest)) or real()
    )
    assert store.recover_sealed() == 1
    assert in_place == [False, True]


def _fake_system(tmp_path: Path, fstype: str, journal: str | None) -> tuple[Path, Path]:
    """A mountinfo naming ``tmp_path``'s device, and a sysfs with its ext4 journal."""
    device = os.stat(tmp_path).st_dev
    number = f"{os.major(device)}:{os.minor(device)}"
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
        f"27 1 {number} / / rw,relatime - {fstype} /dev/vdz rw,discard\n"
    )
    sysfs = tmp_path / "sys"
    disk = sysfs / "devices" / "virtio1" / "block" / "vdz"
    disk.mkdir(parents=True)
    (sysfs / "dev" / "block").mkdir(parents=True)
    (sysfs / "dev" / "block" / number).symlink_to(disk)
    if journal is not None:
        (sysfs / "fs" / "ext4" / "vdz").mkdir(parents=True)
        (sysfs / "fs" / "ext4" / "vdz" / "journal_task").write_text(journal + "\n")
    return mountinfo, sysfs


@pytest.mark.parametrize(
    ("fstype", "journal", "atomic"),
    [
        ("ext4", "<none>", False),  # made or mounted without a journal
        ("ext4", "jbd2/vdz-8", True),
        ("ext3", "<none>", False),
        ("ext4", None, True),  # nothing to read: trusted
        ("ext2", None, False),
        ("xfs", None, True),
        ("btrfs", None, True),
    ],
)
def test_which_filesystems_keep_a_rename_whole_across_a_crash(
    tmp_path: Path, fstype: str, journal: str | None, atomic: bool
):
    mountinfo, sysfs = _fake_system(tmp_path, fstype, journal)
    assert renames_survive_crashes(tmp_path, mountinfo, sysfs) is atomic
    assert renames_survive_crashes(tmp_path, tmp_path / "no-mountinfo", sysfs) is True
