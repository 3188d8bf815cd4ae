"""Zip downloads: a selection (``app.userfiles.selection``) streamed as one archive with
bounded memory, each file read from the cluster as the archive reaches it.

Stored, not deflated: most of what people keep (photos, video, music, office files,
archives) is compressed already, deflate would cost the master a core at a fraction of
the network's speed, and stored entries let the answer say its Content-Length before
the first byte (a browser shows real progress). zipstream-ng writes ZIP64 records once
the archive or an entry passes 4 GiB.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response
from zipstream import ZIP_STORED, ZipStream

from app.http.blob_headers import attachment_disposition
from app.http.user_content import NOSNIFF
from app.userfiles.interface import Download, Selection


def send_zip(selection: Selection) -> Response:
    """Stream the selection as ``<folder>.zip``, or ``mdbx-<N>-items.zip``."""
    archive = ZipStream(compress_type=ZIP_STORED, sized=True)
    for item in selection.items:
        if item.content is None:
            archive.mkdir(item.name)
        else:
            archive.add(_lazily(item.content), item.name, size=item.content.size)
    title = selection.title or f"mdbx-{selection.count}-items"
    headers = [
        ("Content-Length", str(len(archive))),
        ("Content-Disposition", attachment_disposition(f"{title}.zip")),
        # Made anew for each request, of whatever the paths hold now.
        ("Cache-Control", "private, no-store"),
        NOSNIFF,
    ]
    return Response(archive, mimetype="application/zip", headers=headers, direct_passthrough=True)


def _lazily(content: Download) -> Iterator[bytes]:
    """The file's bytes, read only once the archive gets to it: no file is opened (nor a
    block fetched ahead) before then."""
    yield from content.read(0, content.size)
