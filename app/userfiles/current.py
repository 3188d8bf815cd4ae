"""The user-files service of the current app, for every front end's views (the factory
builds it: ``app.userfiles.wiring``)."""

from __future__ import annotations

from flask import current_app

from app.userfiles.interface import UserFiles
from app.userfiles.resumable_interface import ResumableUploads

EXTENSION = "mdbx.userfiles"
RESUMABLE_EXTENSION = "mdbx.resumable"


def user_files() -> UserFiles:
    """The user-files service of the current app."""
    service: UserFiles = current_app.extensions[EXTENSION]
    return service


def resumable_uploads() -> ResumableUploads:
    """The resumable uploads of the current app's users."""
    service: ResumableUploads = current_app.extensions[RESUMABLE_EXTENSION]
    return service
