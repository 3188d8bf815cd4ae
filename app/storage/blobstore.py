"""Blobs on disk, named by their SHA-256 under a two-level fan-out (ab/cd/<digest>).

Writes stream into a temp file beside the blob tree while hashing (a small body received
whole is hashed in memory and written at its batch's turn). A finished file is renamed
``sealed-<digest>-…`` in the temp dir and made durable, then moved into place with
``os.replace``: a reader sees the whole blob or none of it. The move is not synced; a
crash that loses it leaves the sealed file, which ``recover_sealed`` checks and moves
into place when the node starts. That needs a journal, which makes a rename whole across
a crash: on a filesystem without one the batch is synced again after its moves.
Concurrent writes are made durable together (``persist``): on Linux one ``syncfs`` for a
batch, instead of an fsync of every file and directory, and the batch's file operations
run off the gevent hub: a create or rename that waits on the filesystem (a sync in
progress, a slow inode allocation) would stall every request of the worker there.

Blobs whose bytes rot are moved aside into ``quarantine/`` (never served again, kept
for a post-mortem) rather than deleted; ``verify`` re-hashes a blob for the scrubber.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from app.errors import BlobNotFound, HashMismatch, InsufficientStorage, InvalidHash, PayloadTooLarge
from app.primitives.lru import LRUCache
from app.primitives.offhub import off_hub

log = logging.getLogger(__name__)

DIGEST_RE = re.compile(r"[0-9a-f]{64}")
TEMP_PREFIX = "upload-"
SEALED_PREFIX = "sealed-"  # a finished, hashed upload: sealed-<digest>-<temp name>
DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
VERIFY_CHUNK = 1 << 20


def parse_digest(value: str | None) -> str:
    """Return the SHA-256 hex digest in ``value``, lower-cased; raise InvalidHash otherwise.

    The digest becomes a file path, so anything but 64 hex characters is refused here,
    before it reaches the filesystem.
    """
    candidate = (value or "").strip().lower()
    if not DIGEST_RE.fullmatch(candidate):
        raise InvalidHash("hash must be a SHA-256 digest: 64 hexadecimal characters")
    return candidate


def _checked(digest: str) -> str:
    """Refuse a non-digest before it names a file to remove or move."""
    if not DIGEST_RE.fullmatch(digest):
        raise InvalidHash("hash must be a SHA-256 digest: 64 hexadecimal characters")
    return digest


@dataclass(frozen=True)
class StoredBlob:
    digest: str
    size: int
    created: bool


def _disk_full(exc: OSError) -> InsufficientStorage:
    return InsufficientStorage(f"no space left on the storage device ({exc.strerror})")


@dataclass(frozen=True)
class SealedBlob:
    """A finished, hashed upload waiting to be made durable and moved into place: the
    temp file at ``path``, or ``data`` received whole (``path`` is then a temp name no
    file has yet)."""

    path: Path
    digest: str
    size: int
    data: bytes | None = None


def _fsync_path(path: Path | str, data_only: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        (os.fdatasync if data_only else os.fsync)(fd)
    finally:
        os.close(fd)


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


def _replace_into_tree(source: str | Path, target: str) -> None:
    """``os.replace``, creating the blob's fan-out directories if they are missing (not
    synced: see ``FileBlobStore.persist``). FileNotFoundError: ``source`` is gone."""
    try:
        os.replace(source, target)
        return
    except FileNotFoundError:
        if os.path.isdir(os.path.dirname(target)):
            raise
    # Concurrent uploads may race to create the same directories (exist_ok).
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.replace(source, target)


def renames_survive_crashes(
    path: Path, mountinfo: Path = Path("/proc/self/mountinfo"), sysfs: Path = Path("/sys")
) -> bool:
    """Whether the filesystem holding ``path`` keeps a rename whole across a crash.

    Journaled and copy-on-write filesystems do. ext2, and ext3 or ext4 made or mounted
    without a journal, write the two directory blocks of a rename independently. Only
    those are reported (from ``mountinfo`` and ext4's ``journal_task`` in ``sysfs``);
    anything that cannot be read is trusted.
    """
    device = os.stat(path).st_dev
    number = f"{os.major(device)}:{os.minor(device)}"
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return True
    fstype = next(
        (
            fields[fields.index("-") + 1]
            for fields in (line.split() for line in lines)
            if len(fields) > 2 and fields[2] == number and "-" in fields
        ),
        None,
    )
    if fstype == "ext2":
        return False
    if fstype not in ("ext3", "ext4"):
        return True
    try:
        name = (sysfs / "dev" / "block" / number).resolve(strict=True).name
        journal = (sysfs / "fs" / "ext4" / name / "journal_task").read_text().strip()
    except OSError:
        return True
    return journal != "<none>"


def _fsync_dir(path: Path) -> None:
    off_hub(_fsync_path, path)


def _find_syncfs() -> Callable[[int], int] | None:
    """Return libc's ``syncfs``: it flushes one filesystem's dirty data and metadata."""
    try:
        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    syncfs.argtypes = [ctypes.c_int]
    syncfs.restype = ctypes.c_int
    return syncfs


SYNCFS = _find_syncfs()


def _find_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """Return libc's ``sync_file_range``: it starts the writeback of a file's range."""
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


SYNC_FILE_RANGE = _find_sync_file_range()
SYNC_FILE_RANGE_WRITE = 2
# A large upload asks the disk to start writing what it has received every this many
# bytes, so that the disk works while the rest arrives and the final sync finds little
# left to do (RocksDB's bytes_per_sync).
WRITEBACK_EVERY = 8 << 20


class FileBlobWriter:
    """A temp file that hashes what is written to it; commit it with FileBlobStore.commit."""

    def __init__(self, path: Path, fd: int, max_size: int | None) -> None:
        self.path = path
        self.size = 0
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self._max_size = max_size
        self._written_back = 0  # bytes whose writeback has been started

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; raise PayloadTooLarge past the size cap, 507 on a full disk."""
        if self._max_size is not None and self.size + len(chunk) > self._max_size:
            raise PayloadTooLarge(f"upload exceeds the limit of {self._max_size} bytes")
        self._hash.update(chunk)
        try:
            self._file.write(chunk)
            self.size += len(chunk)
            if self.size - self._written_back >= WRITEBACK_EVERY:
                self._start_writeback()
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                raise _disk_full(exc) from exc
            raise

    def _start_writeback(self) -> None:
        if SYNC_FILE_RANGE is None:
            return
        self._file.flush()
        start, self._written_back = self._written_back, self.size
        # Only a head start (its result does not matter: the batch's sync makes the
        # bytes durable), on the thread pool: the call waits when the disk's queue is full.
        off_hub(
            SYNC_FILE_RANGE, self._file.fileno(), start, self.size - start, SYNC_FILE_RANGE_WRITE
        )

    def finish(self) -> str:
        """Flush and close the temp file; return the digest of what was written."""
        try:
            self._file.flush()
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                raise _disk_full(exc) from exc
            raise
        finally:
            self._file.close()
        return self._hash.hexdigest()

    def abort(self) -> None:
        """Drop the temp file; safe to call more than once."""
        self._file.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> FileBlobWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()


class FileBlobStore:
    """Content-addressed blobs under ``root``; thread-safe, shared by the node's workers."""

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
        self.root = root
        self.blob_dir = root / "blobs"
        self.tmp_dir = root / "tmp"
        self.quarantine_dir = root / "quarantine"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self._blob_prefix = f"{self.blob_dir}/"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._syncfs = SYNCFS if syncfs else None
        self._min_free_bytes = min_free_bytes
        if atomic_renames is None:
            atomic_renames = renames_survive_crashes(root)
            if not atomic_renames:
                log.warning(
                    "%s is on a filesystem without a journal: each batch of blobs is synced "
                    "again once it has moved into place",
                    root,
                )
        self._atomic_renames = atomic_renames
        # Positive existence cache, filled by ``exists`` (blobs are immutable, so "exists"
        # stays true until deleted). Not by writes: no write trusts it (see
        # ``_move_into_place``), and filled by each upload it held up to ``cache_size``
        # digests per worker that nothing asked about, 13 MB of a node worker's memory.
        self._known: LRUCache[str, bool] = LRUCache(cache_size)
        self._lock = threading.RLock()

    def path_for(self, digest: str) -> Path:
        """Return where the blob ``digest`` lives (whether or not it exists)."""
        return Path(self.file_name(digest))

    def file_name(self, digest: str) -> str:
        """``path_for`` as a string, for the hot read path (a Path costs more than the open)."""
        return f"{self._blob_prefix}{digest[:2]}/{digest[2:4]}/{digest}"

    def free_bytes(self) -> int:
        """Return the bytes available to this process on the blob filesystem."""
        stats = os.statvfs(self.root)
        return stats.f_bavail * stats.f_frsize

    def open_writer(
        self, max_size: int | None = None, expected_size: int | None = None
    ) -> FileBlobWriter:
        """Start a blob; refuse (507) when it would leave less than the free-space reserve."""
        self._check_space(expected_size or 0)
        try:
            fd, name = tempfile.mkstemp(dir=self.tmp_dir, prefix=TEMP_PREFIX, suffix=".tmp")
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                raise _disk_full(exc) from exc
            raise
        return FileBlobWriter(Path(name), fd, max_size)

    def commit(self, writer: FileBlobWriter, expected_digest: str | None = None) -> StoredBlob:
        """Store a finished writer's bytes durably; storing known bytes again is a no-op."""
        return self.persist([self.seal(writer, expected_digest)])[0]

    def seal_bytes(self, data: bytes, expected_digest: str | None = None) -> SealedBlob:
        """Hash a body received whole; ``persist`` writes it (HashMismatch, 507 as a writer)."""
        self._check_space(len(data))
        digest = hashlib.sha256(data).hexdigest()
        if expected_digest is not None and digest != expected_digest:
            raise HashMismatch(f"content hashes to {digest}, not {expected_digest}")
        name = f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(8).hex()}.tmp"
        return SealedBlob(self.tmp_dir / name, digest, len(data), data)

    def _check_space(self, size: int) -> None:
        needed = size + self._min_free_bytes
        if needed and self.free_bytes() < needed:
            raise InsufficientStorage("not enough free disk space on this node")

    def seal(self, writer: FileBlobWriter, expected_digest: str | None = None) -> SealedBlob:
        """Finish a writer and check its digest (HashMismatch drops the temp file)."""
        try:
            digest = writer.finish()
        except BaseException:
            writer.abort()
            raise
        if expected_digest is not None and digest != expected_digest:
            writer.abort()
            raise HashMismatch(f"content hashes to {digest}, not {expected_digest}")
        return SealedBlob(writer.path, digest, writer.size)

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
        return off_hub(self._persist, sealed)

    def _persist(self, sealed: Sequence[SealedBlob]) -> list[StoredBlob]:
        # Paths as strings here: pathlib's objects cost more than the system calls.
        stored: list[StoredBlob] = []
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
                self._sync_sealed(current)
            for i, blob in enumerate(sealed):
                created = self._move_into_place(current[i], blob.digest)
                if created:
                    moved.add(i)
                stored.append(StoredBlob(blob.digest, blob.size, created))
            self._sync_moves([sealed[i].digest for i in moved])
        except OSError as exc:
            if exc.errno in DISK_FULL_ERRNOS:
                raise _disk_full(exc) from exc
            raise
        finally:
            for i, path in enumerate(current):  # the files of duplicates, or of a failed batch
                if i not in moved:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
        return stored

    def _move_into_place(self, source: str | Path, digest: str) -> bool:
        """Move a durable sealed file to its blob's name; False if the blob was there."""
        target = self.file_name(digest)
        with self._lock:
            # A stat, not exists(): the existence cache is per process, and a sibling
            # worker's delete or quarantine cannot reach it. Trusting a stale entry here
            # would drop the very upload that repairs a quarantined blob.
            created = not os.path.isfile(target)
            if created:
                try:
                    _replace_into_tree(source, target)
                except FileNotFoundError:
                    # A sibling worker's recovery moved it meanwhile (it is in place).
                    if not os.path.isfile(target):
                        raise
        return created

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
            else:
                path.unlink(missing_ok=True)
        if recovered:
            off_hub(self._sync_moves, recovered)
            log.warning("moved %d blobs left sealed by a crash into place", len(recovered))
        return len(recovered)

    def _sync_sealed(self, paths: Iterable[str | Path]) -> None:
        if not self._sync_filesystem():
            for path in paths:
                _fsync_path(path, data_only=True)
            _fsync_path(self.tmp_dir)

    def _sync_moves(self, digests: Sequence[str]) -> None:
        """Make blobs' final names durable where a rename is not atomic across a crash
        (no journal): there a crash could lose both the sealed name and the final one."""
        if not digests or not self._fsync or self._atomic_renames:
            return
        if self._sync_filesystem():
            return
        shards = {os.path.dirname(self.file_name(digest)) for digest in digests}
        for directory in shards | {os.path.dirname(shard) for shard in shards}:
            _fsync_path(directory)
        _fsync_path(self.blob_dir)
        _fsync_path(self.tmp_dir)

    def _sync_filesystem(self) -> bool:
        """One ``syncfs`` of the blob filesystem; False where there is none."""
        if self._syncfs is None:
            return False
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if self._syncfs(fd) != 0:
                code = ctypes.get_errno()
                raise OSError(code, os.strerror(code))
        finally:
            os.close(fd)
        return True

    def exists(self, digest: str) -> bool:
        """Tell whether the blob is stored."""
        if self._known.get(digest):
            return True
        if self.on_disk(digest):
            self._known.put(digest, True)
            return True
        return False

    def on_disk(self, digest: str) -> bool:
        """Tell whether the blob's file is there, asking the disk, not the cache (which
        forgets it when it is not: it was deleted behind the store's back)."""
        if self.path_for(digest).is_file():
            return True
        self._known.discard(digest)
        return False

    def locate(self, digest: str) -> Path:
        """Return the path of a stored blob; raise BlobNotFound when it is not stored."""
        if not self.on_disk(digest):
            raise BlobNotFound(f"no blob {digest} on this node")
        return self.path_for(digest)

    def iter_blobs(self) -> Iterator[tuple[str, int]]:
        """Yield (digest, size) of every stored blob, in no particular order."""
        for dirpath, _dirnames, filenames in os.walk(self.blob_dir):
            for name in filenames:
                if DIGEST_RE.fullmatch(name):
                    try:
                        size = os.stat(os.path.join(dirpath, name)).st_size
                    except FileNotFoundError:
                        continue
                    yield name, size

    def verify(
        self,
        digest: str,
        chunk_size: int = VERIFY_CHUNK,
        throttle: Callable[[int], None] | None = None,
    ) -> bool | None:
        """Re-hash a stored blob; True if its bytes match ``digest``, None if it is gone.

        Streams through one open fd, so a concurrent ``os.replace`` of the path does not
        mix two files' bytes. ``throttle(bytes_read)`` runs after every chunk; whatever it
        raises propagates (the scrubber stops a pass that way).
        """
        try:
            fd = os.open(self.path_for(digest), os.O_RDONLY)
        except FileNotFoundError:
            self._known.discard(digest)
            return None
        hasher = hashlib.sha256()
        buffer = bytearray(chunk_size)
        view = memoryview(buffer)
        with os.fdopen(fd, "rb", buffering=0) as blob:
            while read := blob.readinto(buffer):
                hasher.update(view[:read])
                if throttle is not None:
                    throttle(read)
        return hasher.hexdigest() == digest

    def delete(self, digest: str) -> bool:
        """Remove a blob; True if it existed. Idempotent; raise InvalidHash on a bad digest."""
        path = self.path_for(_checked(digest))
        with self._lock:
            self._known.discard(digest)
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            if self._fsync:
                _fsync_dir(path.parent)
        return True

    def quarantine(self, digest: str) -> Path | None:
        """Move a blob out of the blob tree; return where it went, None if it was gone.

        The rename is atomic and stays on one filesystem (``root/quarantine``), so readers
        either still hold the old fd or get BlobNotFound: never a partial file. Callers
        verify first; this moves whatever bytes are at the path.
        """
        path = self.path_for(_checked(digest))
        with self._lock:
            self._known.discard(digest)
            if not path.is_file():
                return None
            self._ensure_quarantine_dir()
            target = self._quarantine_name(digest)
            try:
                os.rename(path, target)
            except FileNotFoundError:
                return None  # a sibling worker deleted or quarantined it first
            if self._fsync:
                _fsync_dir(self.quarantine_dir)
                _fsync_dir(path.parent)
        log.warning("quarantined blob %s to %s", digest, target)
        return target

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

    def _ensure_quarantine_dir(self) -> None:
        if self.quarantine_dir.is_dir():
            return
        self.quarantine_dir.mkdir(exist_ok=True)
        if self._fsync:
            _fsync_dir(self.root)

    def _quarantine_name(self, digest: str) -> Path:
        # The same blob may rot, be repaired and rot again within a second: never
        # overwrite an earlier specimen.
        stem = f"{digest}.{int(time.time())}"
        target = self.quarantine_dir / stem
        serial = 0
        while target.exists():
            serial += 1
            target = self.quarantine_dir / f"{stem}.{serial}"
        return target
