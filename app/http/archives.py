"""Zip downloads: a selection (``app.userfiles.selection``) streamed as one archive with
bounded memory, the files read from the cluster in the archive's order, the small ones
a few ahead of it (``app.primitives.read_ahead``: one round trip to a node per file,
waited out one after another, was what a zip of many small files took its time on).

Stored, not deflated: most of what people keep (photos, video, music, office files,
archives) is compressed already, deflate would cost the master a core at a fraction of
the network's speed, and stored entries let the answer say its Content-Length before
the first byte (a browser shows real progress). zipstream-ng writes ZIP64 records once
the archive or an entry passes 4 GiB.

Each entry carries its file's or folder's modified time (in the master's local time, as
zip tools read it), not the time of the download.
"""

from __future__ import annotations

import functools
import struct
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from flask import Response
from zipstream import ZIP_STORED, ZipStream

from app.http.blob_headers import attachment_disposition
from app.http.user_content import NOSNIFF
from app.primitives.read_ahead import read_in_order
from app.userfiles.interface import Download, Selection


def send_zip(selection: Selection) -> Response:
    """Stream the selection as ``<folder>.zip``, or ``mdbx-<N>-items.zip``."""
    archive = DatedZipStream(compress_type=ZIP_STORED, sized=True)
    contents = [item.content for item in selection.items if item.content is not None]
    files = read_in_order([(content.size, _whole(content)) for content in contents])
    for item in selection.items:
        archive.dates.append(item.mtime)
        if item.content is None:
            archive.mkdir(item.name)
        else:
            archive.add(_next_file(files), item.name, size=item.content.size)
    title = selection.title or f"mdbx-{selection.count}-items"
    headers = [
        ("Content-Length", str(len(archive))),
        ("Content-Disposition", attachment_disposition(f"{title}.zip")),
        # Made anew for each request, of whatever the paths hold now.
        ("Cache-Control", "private, no-store"),
        NOSNIFF,
    ]
    response = Response(
        archive, mimetype="application/zip", headers=headers, direct_passthrough=True
    )
    # A client gone mid-way: the reads ahead stop with the answer.
    response.call_on_close(files.close)
    return response


def _whole(content: Download) -> Callable[[], Iterator[bytes]]:
    return functools.partial(content.read, 0, content.size)


def _next_file(files: Iterator[Iterator[bytes]]) -> Iterator[bytes]:
    """The next file's bytes, taken only once the archive gets to it: nothing is read
    before the first byte of the archive is sent."""
    yield from next(files)


# The local file header: signature, versions, flags, method, then the DOS time and date.
_HEADER_SIGNATURE = b"PK\x03\x04"
_DOS_TIME_AT = 10
# The DOS date's range: 1980 to 2107.
_DOS_YEARS = (1980, 2107)


class DatedZipStream(ZipStream):  # type: ignore[misc]  # zipstream-ng has no type hints
    """A ZipStream whose entries carry a time each: ``dates`` holds one Unix time per
    entry, in the order they are added. zipstream-ng (1.9.3) dates every entry it is
    given as data "now"; here each entry's local header and central directory record
    get its own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dates: deque[float] = deque()

    def _gen_file_entry(self, **kwargs: Any) -> Iterator[bytes]:
        date_time = _zip_date_time(self.dates.popleft())
        entry = super()._gen_file_entry(**kwargs)
        header = next(entry)
        # Same length: the archive's size, said before the first byte, stays true.
        yield _redated(header, date_time)
        yield from entry
        self._filelist[-1].date_time = date_time  # the central directory's copy


def _zip_date_time(timestamp: float) -> tuple[int, int, int, int, int, int]:
    local = time.localtime(timestamp)
    year = min(max(local.tm_year, _DOS_YEARS[0]), _DOS_YEARS[1])
    if year != local.tm_year:
        return (year, 1, 1, 0, 0, 0) if year == _DOS_YEARS[0] else (year, 12, 31, 23, 59, 58)
    return (year, local.tm_mon, local.tm_mday, local.tm_hour, local.tm_min, local.tm_sec)


def _redated(header: bytes, date_time: tuple[int, int, int, int, int, int]) -> bytes:
    if not header.startswith(_HEADER_SIGNATURE):
        raise RuntimeError("zipstream-ng no longer yields an entry's local header first")
    year, month, day, hour, minute, second = date_time
    dos_date = (year - 1980) << 9 | month << 5 | day
    dos_time = hour << 11 | minute << 5 | second // 2
    stamp = struct.pack("<HH", dos_time, dos_date)
    return header[:_DOS_TIME_AT] + stamp + header[_DOS_TIME_AT + 4 :]
