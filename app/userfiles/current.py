"""The user-files service of the current app, for every front end's views (the factory
builds it: ``app.userfiles.wiring``)."""

from __future__ import annotations

from flask import current_app

from app.userfiles.interface import UserFiles

EXTENSION = "mdbx.userfiles"


def user_files() -> UserFiles:
    """The user-files service of the current app."""
    service: UserFiles = current_app.extensions[EXTENSION]
    return service
