"""feedback/counters.py: one counter helper for the rate limits and the editors' mail cap."""

from django.core.cache import cache

from feedback import counters


def test_counts_one_more_each_time_per_key():
    assert [counters.count("test:a", 60) for _ in range(3)] == [1, 2, 3]
    assert counters.count("test:b", 60) == 1
    assert cache.get("test:a") == 3


def test_a_counter_created_meanwhile_is_counted_on(monkeypatch):
    """Another process creates the counter between this one's incr and add."""
    real_incr, calls = cache.incr, []

    def incr(key, *args, **kwargs):
        calls.append(key)
        if len(calls) == 1:
            cache.set(key, 5, 60)  # the other process's first count, and then some
            raise ValueError(key)
        return real_incr(key, *args, **kwargs)

    monkeypatch.setattr(cache, "incr", incr)
    assert counters.count("test:race", 60) == 6
    assert calls == ["test:race", "test:race"]


def test_none_when_the_cache_cannot_count(monkeypatch):
    def no_counter(*args, **kwargs):
        raise ValueError("no cache")

    monkeypatch.setattr(cache, "incr", no_counter)
    monkeypatch.setattr(cache, "add", lambda *args, **kwargs: False)
    assert counters.count("test:down", 60) is None


def test_count_many_counts_each_window_and_reads_along():
    """One round trip with Redis (tests/reliability/test_cache_outage.py); the same answers
    from any cache."""
    cache.set("test:read", "v1")
    assert counters.count("test:m1", 60) == 1
    assert counters.count_many([("test:m1", 60), ("test:m2", 60)], read=["test:read"]) == (
        [2, 1],
        {"test:read": "v1"},
    )
    assert counters.count_many([("test:m2", 60)], read=["test:absent"]) == ([2], {})
    assert counters.count("test:m2", 60) == 3
