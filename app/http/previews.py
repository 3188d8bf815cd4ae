"""Thumbnail answers: 304 on the entity tag before a byte of the source is read, else
the thumbnail (made or cached by ``app.previews.service``), cached privately."""

from __future__ import annotations

from flask import Response, request

from app.previews.current import thumbnails
from app.userfiles.interface import Download


def send_thumbnail(source: Download, size: int) -> Response:
    """Answer the thumbnail of ``source`` in a ``size`` box, or 304 if the browser has it.

    ``private``: the answer is one user's (or a link holder's); no shared cache keeps it.
    """
    service = thumbnails()
    etag = service.etag(source.hash, size)
    headers = {
        "ETag": f'"{etag}"',
        "Cache-Control": f"private, max-age={service.max_age}",
        "X-Content-Type-Options": "nosniff",
    }
    if request.if_none_match.contains(etag):
        return Response(status=304, headers=headers)
    made = service.thumbnail(source, size)
    return Response(made.data, mimetype=made.mimetype, headers=headers)
