"""The thumbnail service's wiring, called by the factory only: the cache under
``DATA_DIR/thumbnails`` and the limits from the settings."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from app.previews.current import EXTENSION
from app.previews.service import ThumbnailService
from app.previews.thumbnail_cache import ThumbnailCache
from app.previews.thumbnails import FILE_SUFFIX


def init_app(app: Flask) -> None:
    """Build the thumbnail service of a master."""
    cache = ThumbnailCache(
        Path(app.config["DATA_DIR"]) / "thumbnails",
        app.config["THUMBNAIL_CACHE_BYTES"],
        FILE_SUFFIX,
    )
    app.extensions[EXTENSION] = ThumbnailService(
        cache,
        max_source_bytes=app.config["THUMBNAIL_MAX_SOURCE_BYTES"],
        max_pixels=app.config["THUMBNAIL_MAX_PIXELS"],
        max_age=app.config["THUMBNAIL_MAX_AGE"],
    )
