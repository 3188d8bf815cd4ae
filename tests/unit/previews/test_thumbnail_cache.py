"""The thumbnail cache on real files: atomic names by hash and size, a bound in bytes,
the least recently used evicted first."""

from __future__ import annotations

import hashlib
import os

from app.previews.thumbnail_cache import LOW_WATER, ThumbnailCache


def digest(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def test_a_thumbnail_is_kept_under_its_hash_and_size(tmp_path):
    cache = ThumbnailCache(tmp_path, 1 << 20, "webp")
    assert cache.get(digest(1), 64) is None
    cache.put(digest(1), 64, b"small")
    cache.put(digest(1), 256, b"larger")
    assert cache.get(digest(1), 64) == b"small" and cache.get(digest(1), 256) == b"larger"
    path = tmp_path / digest(1)[:2] / f"{digest(1)}-64.webp"
    assert path.read_bytes() == b"small"
    assert not [p for p in tmp_path.rglob(".tmp-*")]  # no temporary file left behind


def test_the_bound_evicts_the_least_recently_used_first(tmp_path):
    cache = ThumbnailCache(tmp_path, 10_000, "webp")
    for n in range(8):
        cache.put(digest(n), 64, bytes(1000))
        os.utime(cache.path_for(digest(n), 64), (1000 + n, 1000 + n))
    assert cache.get(digest(0), 64) is not None  # used now: the newest
    for n in range(8, 12):
        cache.put(digest(n), 64, bytes(1000))
    assert cache.stored_bytes() <= 10_000
    kept = {n for n in range(12) if cache.path_for(digest(n), 64).exists()}
    assert 0 in kept and 1 not in kept and 11 in kept
    # One eviction goes down to the low water mark, not just under the bound.
    cache.put(digest(99), 64, bytes(3000))
    assert cache.stored_bytes() <= 10_000 * LOW_WATER + 3000


def test_a_bound_of_zero_keeps_nothing(tmp_path):
    cache = ThumbnailCache(tmp_path, 0, "webp")
    cache.put(digest(1), 64, b"x")
    assert cache.get(digest(1), 64) is None and cache.stored_bytes() == 0


def test_the_total_is_recounted_from_the_disk(tmp_path):
    # Another worker's thumbnails count against the same bound.
    ThumbnailCache(tmp_path, 5_000, "webp").put(digest(1), 64, bytes(4000))
    second = ThumbnailCache(tmp_path, 5_000, "webp")
    second.put(digest(2), 64, bytes(2000))
    assert second.stored_bytes() <= 5_000
