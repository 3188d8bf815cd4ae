from __future__ import annotations

import hashlib
import os

from app.storage.read_check import ReadCheck


def check(rc: ReadCheck, path, digest: str) -> bool:
    fd = os.open(path, os.O_RDONLY)
    try:
        return rc.is_sound(digest, fd)
    finally:
        os.close(fd)


def test_a_sound_file_passes_and_a_rewritten_one_is_hashed_again(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 3_000_000)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    rc = ReadCheck(capacity=4)
    assert check(rc, path, digest) and check(rc, path, digest)
    path.write_bytes(b"y" * 3_000_000)  # same size, new times
    assert not check(rc, path, digest)
    path.write_bytes(b"x" * 2_999_999)
    assert not check(rc, path, digest)


def test_the_file_offset_is_left_for_sendfile(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"abc")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert ReadCheck().is_sound(hashlib.sha256(b"abc").hexdigest(), fd)
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0
    finally:
        os.close(fd)
