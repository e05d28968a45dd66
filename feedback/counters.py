"""Counters shared by every process, kept in the cache: count one more in a window.

The feedback rate limits (antispam.py) and the editors' hourly mail cap (notifications.py)
count this way.
"""

from django.core.cache import cache


def count(key: str, seconds: int) -> int | None:
    """Count one more under `key`; the new count, or None when the cache keeps no counter.

    A counter lives `seconds` from its first count (a fixed window: the caller puts the
    window into the key). Atomic across processes: the counter is incremented first (an
    existing counter costs one cache call); only the first count of a window creates it
    (add, which exactly one of several racing processes wins; the others count with incr).
    None means the cache is unavailable: portal/lib/redis_cache.py answers incr with
    ValueError and add with False while Redis is down.
    """
    try:
        return cache.incr(key)
    except ValueError:  # no counter for this window yet
        pass
    if cache.add(key, 1, timeout=seconds):
        return 1
    try:
        return cache.incr(key)  # another process created it in between
    except ValueError:  # the counter exists for add but not for incr: no cache
        return None


def count_many(windows, read=()) -> tuple[list, dict]:
    """count(key, seconds) for each (key, seconds) of `windows`, and cache.get_many(read):
    (the new counts or Nones, {key: value}). One atomic round trip with Redis
    (portal/lib/redis_cache.py); other caches count one key at a time."""
    counting = getattr(cache, "count_and_read", None)
    if counting is not None:
        return counting(windows, read)
    return [count(key, seconds) for key, seconds in windows], cache.get_many(read) if read else {}
