"""What a node sends: a blob by its hash (``/retrieve``), or a file whose every block it
holds (``/file``), once the read is allowed (``app.node.access``, asked first by the Flask
hook and the overlay)."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.cluster.master_client import MasterClient
from app.errors import BlobNotFound, FileNotFound, Forbidden
from app.http.blob_headers import mimetype_of
from app.http.bodies import BODY_CHUNK
from app.metadata.node_catalogue import NodeCatalogue
from app.node.losses import LossReporter
from app.primitives.lru import LRUCache
from app.primitives.offhub import off_hub
from app.security import listing_digest
from app.storage.blobstore import FileBlobStore
from app.storage.digests import parse_digest
from app.storage.read_check import ReadCheck

log = logging.getLogger(__name__)

# Files of several blocks recently sent whole: their block lists, a few KB each.
LAYOUT_CACHE_SIZE = 256
# Bytes read at once when hashing blobs end to end (``digest_of``).
DIGEST_CHUNK = 1024 * 1024
# Blobs one ``POST /blobs/digest`` may name (a 400 GiB file of 4 MiB blocks).
MAX_DIGEST_BLOBS = 100_000


@dataclass(frozen=True)
class BlobToServe:
    path: Path
    digest: str
    name: str
    mimetype: str


@dataclass(frozen=True)
class FileLayout:
    """What the master says a file is made of: immutable, as its hash names its bytes."""

    name: str
    size: int
    blocks: tuple[tuple[str, int], ...]  # (hash, size), in order


@dataclass(frozen=True)
class FileToServe:
    """A file whose every block this node holds."""

    digest: str
    name: str
    mimetype: str
    size: int
    blocks: tuple[tuple[str, int], ...]  # (path, size), in order

    def iter_range(self, start: int, stop: int) -> Iterator[bytes]:
        """Yield the bytes ``[start, stop)``, read from the block files in turn."""
        offset = 0
        for path, size in self.blocks:
            if offset + size > start and offset < stop:
                with open(path, "rb") as block:
                    block.seek(max(start - offset, 0))
                    left = min(stop, offset + size) - max(start, offset)
                    while left > 0:
                        chunk = block.read(min(BODY_CHUNK, left))
                        if not chunk:  # the block shrank: end short, not with wrong bytes
                            raise OSError(f"{path} ended {left} bytes early")
                        left -= len(chunk)
                        yield chunk
            offset += size


class ReadService:
    """Finds what a read asks for on this disk; a copy found missing is reported lost."""

    def __init__(
        self,
        blobs: FileBlobStore,
        catalog: NodeCatalogue,
        master: MasterClient,
        losses: LossReporter,
        check: ReadCheck | None = None,
    ) -> None:
        self.blobs = blobs
        self.check = check or blobs.read_check
        self.catalog = catalog
        self.master = master  # asked a file's block list (its layout)
        self.losses = losses
        self._layouts: LRUCache[str, FileLayout] = LRUCache(LAYOUT_CACHE_SIZE)

    def open_blob(self, hash_param: str | None) -> BlobToServe:
        """Find a blob to stream; the Content-Type comes from the stored name.

        Unchecked: the front ends ask ``NodeAccess.authorize`` first."""
        digest = parse_digest(hash_param)
        path = self.checked_path(digest)
        name = self.catalog.name_of(digest) or digest
        return BlobToServe(path, digest, name, mimetype_of(name))

    def open_file(self, hash_param: str | None) -> FileToServe:
        """Find every block of a file here, to send them in order (the master's
        ``/download`` points here when this node holds them all); unchecked, as
        ``open_blob``."""
        digest = parse_digest(hash_param)
        layout = self._layout(digest)
        paths = []
        for block_hash, size in layout.blocks:
            try:
                paths.append((str(self.checked_path(block_hash)), size))
            except BlobNotFound:
                raise BlobNotFound(
                    f"this node lacks block {block_hash} of file {digest}: "
                    "GET the master's /download with &proxy=1",
                    code="block_not_here",
                ) from None
        return FileToServe(
            digest,
            layout.name,
            mimetype_of(layout.name),
            layout.size,
            tuple(paths),
        )

    def digest_of(self, blocks: Sequence[str], listing: str | None) -> dict[str, Any]:
        """The SHA-256 and size of these blobs of this disk laid end to end: the
        whole-file hash of an account upload whose blocks this node took (each block
        read from the page cache it was just written through, instead of carried to
        the master and hashed there). ``listing``: the name the request was signed
        under, which must be theirs (403). BlobNotFound if one is not here, or unsound."""
        digests = [parse_digest(block) for block in blocks]
        if listing != listing_digest(digests):
            raise Forbidden("?hash= is not the listing of these blobs", code="invalid_token")
        return off_hub(self._digest_of, digests)

    def _digest_of(self, digests: list[str]) -> dict[str, Any]:
        whole = hashlib.sha256()
        size = 0
        for digest in digests:
            fd = self.open_checked(digest)
            try:
                while chunk := os.read(fd, DIGEST_CHUNK):
                    whole.update(chunk)
                    size += len(chunk)
            finally:
                os.close(fd)
        return {"hash": whole.hexdigest(), "size": size}

    def checked_path(self, digest: str) -> Path:
        """Where a sound copy of ``digest`` is (``open_checked``, closed again)."""
        os.close(self.open_checked(digest))
        return self.blobs.path_for(digest)

    def open_checked(self, digest: str) -> int:
        """A descriptor open on a sound copy of ``digest``, checked as
        ``app.storage.read_check`` says; the caller closes it. One open of the blob's name
        as a string: the overlay's 4 KiB reads spent 15 % of their time here when it was a
        Path, looked up, opened, checked, closed and opened again (bench/PROFILE-22.md).

        A copy that does not hash to its name is quarantined and reported lost, as the
        scrub would: BlobNotFound then, never its bytes, and the master repairs it."""
        try:
            fd = os.open(self.blobs.file_name(digest), os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError):
            fd = -1
        try:
            if fd < 0 or not stat.S_ISREG(os.fstat(fd).st_mode):
                self.blobs.on_disk(digest)  # forgets it, if it was known
                self.losses.missing(digest)
                raise BlobNotFound(f"no blob {digest} on this node")
            if not self.check.is_sound(digest, fd):
                log.warning("blob %s does not match its hash: quarantined", digest)
                self.blobs.quarantine(digest)
                self.losses.missing(digest)
                raise BlobNotFound(f"the copy of {digest} on this node is corrupt")
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise
        return fd

    def _layout(self, digest: str) -> FileLayout:
        layout = self._layouts.get(digest)
        if layout is None:
            answer = self.master.file_blocks(digest)
            if answer is None:
                raise FileNotFound(f"no file registered under {digest}")
            blocks = tuple((parse_digest(b["hash"]), int(b["size"])) for b in answer["blocks"])
            layout = FileLayout(str(answer["name"]), int(answer["size"]), blocks)
            self._layouts.put(digest, layout)
        return layout
