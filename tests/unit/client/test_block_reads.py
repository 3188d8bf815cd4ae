"""The parts of ``app.client.block_reads`` that need no cluster: which block maps are
written by, and the nodes tried for a block (the e2e tests read real ones)."""

from __future__ import annotations

import hashlib
import os
import socket

import pytest

from app.client.block_reads import is_tiling, read_blocks, write_at


def block(offset: int, size: int, urls: list[str] | None = None) -> dict:
    return {"hash": "0" * 64, "offset": offset, "size": size, "urls": urls or []}


@pytest.mark.parametrize(
    ("blocks", "size", "fits"),
    [
        ([block(0, 4), block(4, 4), block(8, 2)], 10, True),
        ([block(0, 10)], 10, True),
        ([], 0, True),
        ([block(0, 4), block(4, 4)], 10, False),  # short of the size
        ([block(0, 4), block(3, 7)], 10, False),  # overlapping
        ([block(0, 4), block(5, 5)], 10, False),  # a hole
        ([block(4, 6), block(0, 4)], 10, False),  # out of order
        ([block(0, 0), block(0, 10)], 10, False),  # an empty block
    ],
)
def test_only_a_map_that_tiles_the_file_is_written_by(blocks, size, fits):
    assert is_tiling(blocks, size) is fits


def test_write_at_puts_every_byte_at_its_offset(tmp_path):
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        write_at(fd, b"world", 6)
        write_at(fd, memoryview(b"hello "), 0)
        assert os.pread(fd, 64, 0) == b"hello world"
    finally:
        os.close(fd)


def test_a_block_no_url_sends_is_handed_back(tmp_path):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again: nothing listens there
    data = b"x" * 100
    wanted = block(0, 100, [f"http://127.0.0.1:{port}/retrieve?hash=h&token=t"])
    wanted["hash"] = hashlib.sha256(data).hexdigest()
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        assert read_blocks([wanted, block(100, 1)], fd, 2) == [wanted, block(100, 1)]
        assert os.fstat(fd).st_size == 0  # nothing written
    finally:
        os.close(fd)
