"""How a batch's uploads are cut into the ``POST /blobs`` that copy them to a peer."""

from __future__ import annotations

from pathlib import Path

from app.node.commits import AHEAD_BYTES, PendingCopy, _requests_of
from app.storage.writer import SealedBlob


def pending(index: int, size: int, kind: str = "file") -> PendingCopy:
    sealed = SealedBlob(Path(f"t{index}"), f"{index:064x}", size, b"x" * size)
    return PendingCopy(sealed, f"{index}.bin", kind, True, True)


def test_a_request_holds_one_kind_and_at_most_ahead_bytes_unless_one_upload_is_larger():
    third = AHEAD_BYTES // 3
    uploads = [
        pending(0, third),
        pending(1, 10, "block"),
        pending(2, third),
        pending(3, third),
        pending(4, 3),  # would pass AHEAD_BYTES with the three before: the next request
        pending(5, AHEAD_BYTES + 1),  # alone
    ]
    groups = [[u.sealed.digest for u in group] for group in _requests_of(uploads)]
    digests = [u.sealed.digest for u in uploads]
    assert groups == [digests[0:1] + digests[2:4], digests[4:5], digests[5:6], digests[1:2]]
    assert all(
        sum(u.sealed.size for u in group) <= AHEAD_BYTES or len(group) == 1
        for group in _requests_of(uploads)
    )
