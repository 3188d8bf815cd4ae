"""An upload held to the room its user's quota leaves, before its bytes are stored.

The quota itself (what it counts, and the check when a file is committed) is
``app.metadata.usage``; this is the early part: an upload that cannot fit is refused or
cut off while it arrives, so that its bytes never reach the nodes.
"""

from __future__ import annotations

from typing import IO, cast

from app.errors import QuotaExceeded
from app.metadata.usage import quota_exceeded


class CappedStream:
    """Reads through to ``stream``; raises QuotaExceeded (507) as soon as more than
    ``room`` bytes have arrived, before handing them on."""

    def __init__(self, stream: IO[bytes], room: int, quota: int, used: int) -> None:
        self._stream = stream
        self._room = room
        self._quota = quota
        self._used = used
        self.received = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self.received += len(chunk)
        if self.received > self._room:
            raise quota_exceeded(self.received, self._quota, self._used)
        return chunk


def check_length(length: int, quota: int, used: int) -> int:
    """The room ``quota`` (0: no limit) leaves with ``used`` bytes; 507 quota_exceeded if
    ``length`` new bytes do not fit in it. Counted as new bytes: whether they duplicate
    content the user keeps is known only once they have been hashed."""
    room = quota - used
    if length > room:
        raise quota_exceeded(length, quota, used)
    return room


def check_announced(length: int, quota: int, used: int, announced: int) -> None:
    """507 quota_exceeded if an upload of ``length`` bytes does not fit beside ``used``
    bytes and the ``announced`` lengths of the user's other uploads in progress: an open
    upload holds its room, so that several begun together cannot all pass the check
    and fail only at their last byte."""
    if length > quota - used - announced:
        raise QuotaExceeded(
            f"{length} more bytes would exceed the quota of {quota} bytes ({used} used, "
            f"{announced} held by uploads in progress)",
            details={"quota_bytes": quota, "used_bytes": used, "reserved_bytes": announced},
        )


def within_quota(stream: IO[bytes], content_length: int | None, quota: int, used: int) -> IO[bytes]:
    """``stream`` held to the room left by ``quota`` (0: no limit) with ``used`` bytes.

    A known length that does not fit is refused before a byte is read; a body of
    unknown length (chunked) is cut off once it passes the room left. Either way it is
    counted as new bytes: whether they duplicate content the user keeps is known only
    once they have been hashed.
    """
    if not quota:
        return stream
    room = quota - used if content_length is None else check_length(content_length, quota, used)
    # Cast: the ingest only ever calls read().
    return cast(IO[bytes], CappedStream(stream, room, quota, used))
