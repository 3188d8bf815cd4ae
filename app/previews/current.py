"""The thumbnail service of the current app, for the views (``app.previews.wiring``
builds it)."""

from __future__ import annotations

from flask import current_app

from app.previews.service import ThumbnailService

EXTENSION = "mdbx.thumbnails"


def thumbnails() -> ThumbnailService:
    """The thumbnail service of the current app."""
    service: ThumbnailService = current_app.extensions[EXTENSION]
    return service
