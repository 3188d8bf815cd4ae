from __future__ import annotations

import unicodedata

import pytest

from app.errors import AppError
from app.userfiles.paths import normalize_path


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("docs/a.txt", "/docs/a.txt"),
        ("/docs//a.txt/", "/docs/a.txt"),
        ("/", "/"),
        ("a b/ü.txt", "/a b/ü.txt"),
        (unicodedata.normalize("NFD", "café/é"), unicodedata.normalize("NFC", "/café/é")),
    ],
)
def test_paths_have_one_spelling(raw, expected):
    assert normalize_path(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("../etc/passwd", "invalid_path"),
        ("/a/../../b", "invalid_path"),
        ("/a/./b", "invalid_path"),
        ("/a\x00b", "invalid_path"),
        ("/a\nb", "invalid_path"),
        ("/" + "x" * 256, "path_too_long"),
        ("/" + "/".join(["é" * 100] * 6), "path_too_long"),
        ("", "missing_field"),
        (None, "missing_field"),
        (5, "invalid_path"),
    ],
)
def test_what_could_escape_or_confuse_is_refused(raw, code):
    with pytest.raises(AppError) as caught:
        normalize_path(raw)
    assert caught.value.status == 400
    assert caught.value.code == code
