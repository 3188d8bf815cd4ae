"""Thumbnails of a user's images (or of a shared one): made once per content and size,
then answered from the cache (``app.previews.thumbnail_cache``).

The source bytes come as a ``Download`` from the user-files service, which decided that
the caller may read them; this service only turns them into a thumbnail.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from app.previews.thumbnail_cache import ThumbnailCache
from app.previews.thumbnails import (
    FILE_SUFFIX,
    MIMETYPE,
    ImageTooLarge,
    check_name,
    render_thumbnail,
)
from app.primitives.offhub import off_hub
from app.userfiles.interface import Download

# Thumbnails made at once per worker: each holds its source (up to the source limit) and
# its decoded pixels in memory, and each keeps a core busy. A gevent semaphore once
# gunicorn's worker has patched threading.
RENDERS_AT_ONCE = 2


@dataclass(frozen=True)
class Thumbnail:
    data: bytes
    etag: str
    mimetype: str


class ThumbnailService:
    """Thumbnails by content hash: cached, or decoded off the gevent hub and kept."""

    def __init__(
        self,
        cache: ThumbnailCache,
        *,
        max_source_bytes: int,
        max_pixels: int,
        max_age: int,
    ) -> None:
        self._cache = cache
        self._max_source_bytes = max_source_bytes
        self._max_pixels = max_pixels
        # Seconds a browser may reuse a thumbnail without asking (Cache-Control max-age).
        self.max_age = max_age
        self._turns = threading.BoundedSemaphore(RENDERS_AT_ONCE)

    def etag(self, file_hash: str, size: int) -> str:
        """The thumbnail's entity tag: one per content, size and encoding."""
        return f"{file_hash}-{size}.{FILE_SUFFIX}"

    def thumbnail(self, source: Download, size: int) -> Thumbnail:
        """The thumbnail of ``source`` in a ``size`` box: 415 not_an_image, 413
        image_too_large (over the source limit in bytes or in pixels)."""
        check_name(source.name)
        data = self._cache.get(source.hash, size)
        if data is None:
            if source.size > self._max_source_bytes:
                raise ImageTooLarge(
                    f"{source.name} is {source.size} bytes; thumbnails are made of "
                    f"images up to {self._max_source_bytes} bytes"
                )
            with self._turns:
                # Bounded by the check above: the source is at most max_source_bytes.
                original = b"".join(source.read(0, source.size))
                data = off_hub(self._render_and_keep, original, source.hash, size)
        return Thumbnail(data, self.etag(source.hash, size), MIMETYPE)

    def _render_and_keep(self, original: bytes, file_hash: str, size: int) -> bytes:
        data = render_thumbnail(original, size, max_pixels=self._max_pixels)
        self._cache.put(file_hash, size, data)
        return data
