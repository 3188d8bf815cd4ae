"""Writing blobs: bodies hashed as they arrive, made durable in batches, moved into the tree.

Writes stream into a temp file beside the blob tree while hashing (a small body received
whole is hashed in memory and written at its batch's turn). A finished file is renamed
``sealed-<digest>-…`` in the temp dir and made durable, then moved into place with
``os.replace``: a reader sees the whole blob or none of it. The move is not synced; a
crash that loses it leaves the sealed file, which ``recover_sealed`` checks and moves
into place when the node starts. That needs a journal, which makes a rename whole across
a crash. On a filesystem without one, where a rename cut short by a crash can lose both
names, a sealed file is linked into place instead and keeps its sealed name until the
next batch's sync has made the link durable: still one sync per batch.
Concurrent writes are made durable together (``persist``): on Linux one ``syncfs`` for a
batch, instead of an fsync of every file and directory, and the batch's file operations
run off the gevent hub: a create or rename that waits on the filesystem (a sync in
progress, a slow inode allocation) would stall every request of the worker there.

Reading, checking and removing blobs in place is ``BlobTree``'s (``app.storage.tree``).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from app.errors import HashMismatch, InsufficientStorage
from app.primitives.offhub import off_hub
from app.storage.durability import SYNCFS, fsync_path, renames_survive_crashes, sync_filesystem
from app.storage.interface import BlobStore, BlobWriter
from app.storage.read_check import Identity, ReadCheck, path_identity
from app.storage.tree import BlobTree
from app.storage.writer import (
    DISK_FULL_ERRNOS,
    FileBlobWriter,
    SealedBlob,
    StoredBlob,
    disk_full,
)

log = logging.getLogger(__name__)

TEMP_PREFIX = "upload-"
SEALED_PREFIX = "sealed-"  # a finished, hashed upload: sealed-<digest>-<temp name>


def check_digest(sealed: SealedBlob, expected_digest: str | None) -> None:
    """HashMismatch (400) unless the sealed bytes hash to ``expected_digest`` (None: any)."""
    if expected_digest is not None and sealed.digest != expected_digest:
        raise HashMismatch(f"content hashes to {sealed.digest}, not {expected_digest}")


def _write_new_file(path: str, data: bytes) -> None:
    """Create ``path`` (it must not exist) holding ``data`` (``persist`` turns a full
    disk's OSError into a 507)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _into_tree(move: Callable[[str | Path, str], None], source: str | Path, target: str) -> None:
    """``move`` (``os.replace`` or ``os.link``), creating the blob's fan-out directories if
    they are missing (not synced: see ``FileBlobStore.persist``). FileNotFoundError:
    ``source`` is gone."""
    try:
        move(source, target)
        return
    except FileNotFoundError:
        if os.path.isdir(os.path.dirname(target)):
            raise
    # Concurrent uploads may race to create the same directories (exist_ok).
    os.makedirs(os.path.dirname(target), exist_ok=True)
    move(source, target)


class FileBlobStore(BlobTree):
    """Content-addressed blobs under ``root``, written durably; thread-safe, shared by the
    node's workers."""

    def __init__(
        self,
        root: Path,
        *,
        cache_size: int = 65_536,
        fsync: bool = True,
        syncfs: bool = True,
        min_free_bytes: int = 0,
        atomic_renames: bool | None = None,
    ) -> None:
        """``syncfs``: make batches durable with one syncfs each where Linux has it (best
        when the filesystem is the node's own), else with an fsync per file and directory.
        ``atomic_renames``: whether a rename survives a crash whole (a journal); None asks
        the filesystem (``renames_survive_crashes``)."""
        super().__init__(root, cache_size=cache_size, fsync=fsync)
        self.tmp_dir = root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._syncfs = SYNCFS if syncfs else None
        self._min_free_bytes = min_free_bytes
        if atomic_renames is None:
            atomic_renames = renames_survive_crashes(root)
            if not atomic_renames:
                log.warning(
                    "%s is on a filesystem without a journal: blobs are linked into place "
                    "and keep their sealed names until the next batch's sync",
                    root,
                )
        self._atomic_renames = atomic_renames
        # What this process's reads need not hash again (``app.node.reads`` uses it): the
        # blobs it checked at a read, and those it wrote itself.
        self.read_check = ReadCheck()
        # Linked into place, not renamed: where renames are not whole across a crash and
        # one syncfs makes every name durable (a second sync per batch, for the moves,
        # was 40 % of a batch of 4 KiB uploads: bench/PROFILE-22.md).
        self._link_into_place = fsync and not atomic_renames and self._syncfs is not None
        # The sealed names of blobs linked into place, dropped after the next sync.
        self._kept_sealed: list[str] = []

    def open_writer(
        self, max_size: int | None = None, expected_size: int | None = None
    ) -> FileBlobWriter:
        """Start a blob; refuse (507) when it would leave less than the free-space reserve."""
        self._check_space(expected_size or 0)
        try:
            fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix=TEMP_PREFIX, suffix=".tmp")
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                raise disk_full(exc) from exc
            raise
        return FileBlobWriter(Path(name), fd, max_size)

    def commit(self, writer: BlobWriter, expected_digest: str | None = None) -> StoredBlob:
        """Store a finished writer's bytes durably; storing known bytes again is a no-op."""
        return self.persist([self.seal(writer, expected_digest)])[0]

    def seal_bytes(self, data: bytes, expected_digest: str | None = None) -> SealedBlob:
        """Hash a body received whole; ``persist`` writes it (HashMismatch, 507 as a writer)."""
        self._check_space(len(data))
        name = f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(8).hex()}.tmp"
        sealed = SealedBlob(self.tmp_dir / name, hashlib.sha256(data).hexdigest(), len(data), data)
        check_digest(sealed, expected_digest)
        return sealed

    def _check_space(self, size: int) -> None:
        if not self.space.admits(size, self._min_free_bytes):
            raise InsufficientStorage("not enough free disk space on this node")

    def seal(self, writer: BlobWriter, expected_digest: str | None = None) -> SealedBlob:
        """Finish a writer and check its digest (HashMismatch drops the temp file)."""
        try:
            digest = writer.finish()
        except BaseException:
            writer.abort()
            raise
        sealed = SealedBlob(writer.path, digest, writer.size)
        try:
            check_digest(sealed, expected_digest)
        except HashMismatch:
            writer.abort()
            raise
        return sealed

    def drop_sealed(self, sealed: SealedBlob) -> None:
        """Drop a sealed blob that will not be persisted (its temp file, if it has one)."""
        if sealed.data is None:
            sealed.path.unlink(missing_ok=True)

    def persist(self, sealed: Sequence[SealedBlob]) -> list[StoredBlob]:
        """Make sealed blobs durable and move them into place, all together.

        Each temp file is renamed ``sealed-<digest>-…`` in the temp dir (a body held in
        memory is written under that name), then one sync makes the batch's bytes and
        those names durable, then the blobs move into place. The moves are not synced: a
        crash that loses one leaves the blob's sealed file, which ``recover_sealed``
        checks and moves into place when the node starts (without a journal, the moves
        are synced too: ``_sync_moves``). So every result is durable when this returns,
        including a blob that was already there (whoever moved it there had made its
        sealed file durable first), with one filesystem sync per batch instead of two
        where there is a journal. All of it runs off the hub (see the module's docstring).
        """
        stored, unlinked = off_hub(self._persist, sealed)
        # On the hub: the cache's lock is gevent's.
        for digest, before in unlinked:  # a kept name dropped changed only the file's ctime
            self.read_check.note_relinked(digest, before, self.file_name(digest))
        for blob in stored:
            if blob.created:
                self.read_check.note_written(blob.digest, self.file_name(blob.digest))
        return stored

    def _persist(
        self, sealed: Sequence[SealedBlob]
    ) -> tuple[list[StoredBlob], list[tuple[str, Identity]]]:
        """The batch stored, and the blobs whose kept sealed names went (each with its
        identity before)."""
        # Paths as strings here: pathlib's objects cost more than the system calls.
        stored: list[StoredBlob] = []
        unlinked: list[tuple[str, Identity]] = []
        current: list[str | Path] = [blob.path for blob in sealed]  # where each file is now
        moved: set[int] = set()
        sealed_prefix = f"{self.tmp_dir}/{SEALED_PREFIX}"
        try:
            for i, blob in enumerate(sealed):
                sealed_path = f"{sealed_prefix}{blob.digest}-{blob.path.stem}"
                if blob.data is None:
                    os.replace(blob.path, sealed_path)
                    current[i] = sealed_path
                else:
                    current[i] = sealed_path  # so that a partly written file goes too
                    _write_new_file(sealed_path, blob.data)
            if self._fsync:
                unlinked = self._sync_with_kept_names(current)
            for i, blob in enumerate(sealed):
                created = self._move_into_place(current[i], blob.digest, link=self._link_into_place)
                if created:
                    moved.add(i)
                stored.append(StoredBlob(blob.digest, blob.size, created))
            if self._link_into_place:
                with self._lock:
                    self._kept_sealed.extend(str(current[i]) for i in sorted(moved))
            else:
                self._sync_moves([sealed[i].digest for i in moved])
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                raise disk_full(exc) from exc
            raise
        finally:
            for i, path in enumerate(current):  # the files of duplicates, or of a failed batch
                if i not in moved:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
        return stored, unlinked

    def _sync_with_kept_names(self, paths: Sequence[str | Path]) -> list[tuple[str, Identity]]:
        """Sync a batch's sealed files; the sync makes the links of earlier batches durable
        too, so their sealed names go (put back if the sync fails). Answers the blobs
        whose names went, each with its identity before."""
        with self._lock:
            kept, self._kept_sealed = self._kept_sealed, []
        try:
            self._sync_sealed(paths)
        except BaseException:
            with self._lock:
                self._kept_sealed[:0] = kept
            raise
        unlinked = []
        for path in kept:
            digest = os.path.basename(path)[len(SEALED_PREFIX) :].split("-", 1)[0]
            with contextlib.suppress(FileNotFoundError):  # the sweep's recovery took it
                before = path_identity(path)
                os.unlink(path)
                unlinked.append((digest, before))
        return unlinked

    def _move_into_place(self, source: str | Path, digest: str, link: bool = False) -> bool:
        """Move (or ``link``) a durable sealed file to its blob's name; False if the blob
        was there."""
        target = self.file_name(digest)
        with self._lock:
            # A stat, not exists(): the existence cache is per process, and a sibling
            # worker's delete or quarantine cannot reach it. Trusting a stale entry here
            # would drop the very upload that repairs a quarantined blob.
            created = not os.path.isfile(target)
            if created:
                try:
                    _into_tree(os.link if link else os.replace, source, target)
                except FileExistsError:
                    return False  # a sibling worker linked it meanwhile
                except FileNotFoundError:
                    # A sibling worker's recovery moved it meanwhile (it is in place).
                    if not os.path.isfile(target):
                        raise
        return created

    def delete(self, digest: str) -> bool:
        """Remove a blob, and any sealed name it keeps (``recover_sealed`` would bring it
        back); True if it existed."""
        prefix = f"{SEALED_PREFIX}{digest}-"
        for entry in os.scandir(self.tmp_dir):
            if entry.name.startswith(prefix):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
        return super().delete(digest)

    def recover_sealed(self, older_than: float = 0.0) -> int:
        """Move into place the sealed blobs whose move a crash lost; return how many.

        Each is hashed first: a file sealed but not yet synced when the machine went
        down may hold torn bytes (its upload was never acknowledged), and is dropped.
        The intact ones are synced before they move: one left by a worker killed before
        its batch's sync is whole but perhaps not on disk yet, and a blob in place may
        be acknowledged to the next upload of the same bytes. ``older_than`` spares the
        sealed files of uploads in flight in this moment.
        """
        cutoff = time.time() - older_than
        intact: list[tuple[Path, str]] = []
        for entry in os.scandir(self.tmp_dir):
            if not entry.name.startswith(SEALED_PREFIX):
                continue
            path = Path(entry.path)
            digest = entry.name[len(SEALED_PREFIX) :].split("-", 1)[0]
            try:
                if older_than and entry.stat().st_mtime > cutoff:
                    continue
                with path.open("rb") as file:
                    whole = hashlib.file_digest(file, "sha256").hexdigest() == digest
            except FileNotFoundError:
                continue  # moved into place by its own upload since the scan saw it
            if whole:
                intact.append((path, digest))
            else:
                path.unlink(missing_ok=True)
        if intact and self._fsync:
            off_hub(self._sync_sealed, [path for path, _digest in intact])
        recovered: list[str] = []
        for path, digest in intact:
            if self._move_into_place(path, digest):
                recovered.append(digest)
            elif self.verify(digest) is False:
                # The copy in place rotted, and this one is whole: it repairs it.
                os.replace(path, self.file_name(digest))
                recovered.append(digest)
            else:
                path.unlink(missing_ok=True)
        if recovered:
            off_hub(self._sync_moves, recovered)
            log.warning("moved %d blobs left sealed by a crash into place", len(recovered))
        return len(recovered)

    def _sync_sealed(self, paths: Iterable[str | Path]) -> None:
        if not self._sync_filesystem():
            for path in paths:
                fsync_path(path, data_only=True)
            fsync_path(self.tmp_dir)

    def _sync_moves(self, digests: Sequence[str]) -> None:
        """Make blobs' final names durable where a rename is not atomic across a crash
        (no journal): there a crash could lose both the sealed name and the final one."""
        if not digests or not self._fsync or self._atomic_renames:
            return
        if self._sync_filesystem():
            return
        shards = {os.path.dirname(self.file_name(digest)) for digest in digests}
        for directory in shards | {os.path.dirname(shard) for shard in shards}:
            fsync_path(directory)
        fsync_path(self.blob_dir)
        fsync_path(self.tmp_dir)

    def _sync_filesystem(self) -> bool:
        """One ``syncfs`` of the blob filesystem; False where there is none."""
        if self._syncfs is None:
            return False
        sync_filesystem(self._syncfs, self.root)
        return True

    def clean_temp(self, older_than: float) -> int:
        """Remove temp files untouched for ``older_than`` seconds; return how many.

        Age, not mere presence, marks a temp file stale: another worker of this node may be
        writing one right now, and an active upload touches its file at least every read.
        """
        cutoff = time.time() - older_than
        removed = 0
        for entry in os.scandir(self.tmp_dir):
            if not entry.name.startswith(TEMP_PREFIX):
                continue
            try:
                stale = entry.stat().st_mtime <= cutoff
            except FileNotFoundError:
                continue  # committed or aborted since the scan saw it
            if stale:
                Path(entry.path).unlink(missing_ok=True)
                removed += 1
        if removed:
            log.info("removed %d stale temp files from %s", removed, self.tmp_dir)
        return removed


# The file store is a BlobStore (checked by mypy here, where it is defined).
_ON_DISK: type[BlobStore] = FileBlobStore
