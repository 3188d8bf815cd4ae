"""The user-files service of the current app, for every front end's views (the factory
builds it: ``app.userfiles.wiring``)."""

from __future__ import annotations

from flask import current_app

from app.userfiles.batch import BatchWrites
from app.userfiles.delta import DeltaWrites
from app.userfiles.direct import DirectUploads
from app.userfiles.feed_interface import ChangeFeed
from app.userfiles.interface import UserFiles
from app.userfiles.resumable_interface import ResumableUploads

EXTENSION = "mdbx.userfiles"
RESUMABLE_EXTENSION = "mdbx.resumable"
FEED_EXTENSION = "mdbx.feed"
BATCH_EXTENSION = "mdbx.batch"
DELTA_EXTENSION = "mdbx.delta"
DIRECT_EXTENSION = "mdbx.direct"


def user_files() -> UserFiles:
    """The user-files service of the current app."""
    service: UserFiles = current_app.extensions[EXTENSION]
    return service


def resumable_uploads() -> ResumableUploads:
    """The resumable uploads of the current app's users."""
    service: ResumableUploads = current_app.extensions[RESUMABLE_EXTENSION]
    return service


def change_feed() -> ChangeFeed:
    """The change feed of the current app's users."""
    service: ChangeFeed = current_app.extensions[FEED_EXTENSION]
    return service


def batch_writes() -> BatchWrites:
    """The batch writes of small files of the current app's users."""
    service: BatchWrites = current_app.extensions[BATCH_EXTENSION]
    return service


def delta_writes() -> DeltaWrites:
    """The large files of the current app's users of which only changed blocks travel."""
    service: DeltaWrites = current_app.extensions[DELTA_EXTENSION]
    return service


def direct_uploads() -> DirectUploads:
    """The large files of the current app's users sent straight to the nodes."""
    service: DirectUploads = current_app.extensions[DIRECT_EXTENSION]
    return service
