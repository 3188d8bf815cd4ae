from app.primitives.lru import LRUCache


def test_least_recently_used_entry_goes_first():
    cache: LRUCache[str, int] = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3
    cache.discard("a")
    assert cache.get("a") is None and len(cache) == 1
    cache.clear()
    assert len(cache) == 0


def test_zero_capacity_caches_nothing():
    cache: LRUCache[str, int] = LRUCache(0)
    cache.put("a", 1)
    assert cache.get("a") is None
