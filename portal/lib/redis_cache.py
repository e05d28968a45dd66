"""django-redis's cache, degrading to "no cache" while Redis is unavailable.

django-redis gives pooled clients (one redis-py client per connection pool; Django's own
backend built one per call, ~0.3 ms each). Its IGNORE_EXCEPTIONS turns errors into misses,
but it tries Redis on every call (a hung Redis then costs every call the socket timeout)
and forgets writes it dropped; the wrapper below does both as described here, with
IGNORE_EXCEPTIONS off.

Redis only holds caches (pages, the session cache, rate-limit counters), so an outage must
not take the site down with it. While Redis cannot be reached (connection
refused or reset, a timeout, Redis loading, read-only or out of memory) every call behaves
like a cache that keeps nothing:

- `get` returns the default, `get_many` `{}`, `has_key` False (`key in cache` too);
- `set`, `delete`, `delete_many`, `clear` do nothing; `add` and `touch` return False;
  `set_many` returns every key (none was stored);
- `incr`/`decr` raise ValueError, as for a missing key; `count_and_read` counts nothing and
  reads nothing.

Callers see misses: the page cache renders, sessions come from the database (`cached_db`),
and the feedback rate limiter falls back to the database (feedback/antispam.py).

Writes are not silently lost either: the keys of every `set`, `set_many`, `delete` and
`delete_many` dropped during an outage are remembered (per process) and deleted from Redis
before anything else once it answers again. Redis may have kept its data through the outage
(a network partition, a hung host); without this, an entry that should have been replaced
or deleted meanwhile (a data or permissions version bumped by an edit, a deactivated user)
would be served stale until it expires. Keys written without an expiry (the versions) and
deletions are always remembered; other keys up to MAX_DROPPED_KEYS (they expire anyway).

Requests must not queue up behind a dead Redis: the socket timeouts are short (defaults
below, OPTIONS may override them), and after a failure Redis is left alone for
`RETRY_SECONDS` (per process, shared by its threads): calls in that time are misses at
once, then one call tries Redis again. The first success ends the outage, so the cache is
used again within about a second of Redis coming back, without a restart.

Logged on the "portal.lib.redis_cache" logger at WARNING: the start of an outage, every
`WARN_EVERY` seconds while it lasts (with the number of calls answered as misses), and its
end. Never one line per call.
"""

import logging
import threading
import time

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django_redis.cache import RedisCache
from redis import exceptions as redis_errors

log = logging.getLogger(__name__)

# Errors of a Redis that is down, unreachable, restarting or refusing writes: the call is a
# miss. Anything else (a bad argument, a WRONGTYPE answer) is a bug and still raises.
UNAVAILABLE = (
    redis_errors.ConnectionError,  # also AuthenticationError, BusyLoadingError
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,
    redis_errors.OutOfMemoryError,
    redis_errors.MasterDownError,
    redis_errors.TryAgainError,
    OSError,
)
DEFAULT_OPTIONS = {"socket_connect_timeout": 0.25, "socket_timeout": 0.5}
RETRY_SECONDS = 1.0
WARN_EVERY = 60.0
MAX_DROPPED_KEYS = 10_000


class _Health:
    """Whether one Redis (a LOCATION) is usable, shared by the threads of a process."""

    def __init__(self, location: str, retry_seconds: float):
        self.location = location
        self.retry_seconds = retry_seconds
        self.lock = threading.Lock()
        self.down_since: float | None = None  # time.monotonic() of the first failure
        self.retry_at = 0.0
        self.warned_at = 0.0
        self.misses = 0  # calls answered as misses since the last warning
        self.last_error = ""
        self.dropped: set[str] = set()  # keys written or deleted while unavailable
        self.forgotten = 0  # dropped keys deleted on recovery, for the log

    def drop(self, keys, *, always: bool) -> None:
        with self.lock:
            for key in keys:
                if always or len(self.dropped) < MAX_DROPPED_KEYS:
                    self.dropped.add(key)

    def take_dropped(self) -> list[str]:
        with self.lock:
            keys, self.dropped = list(self.dropped), set()
            return keys

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def may_try(self) -> bool:
        """True: call Redis. While down, only one call per RETRY_SECONDS gets True."""
        if self.down_since is None:
            return True
        with self.lock:
            if self.down_since is None:
                return True
            now = time.monotonic()
            if now >= self.retry_at:
                self.retry_at = now + self.retry_seconds  # this caller probes; others skip
                return True
            self.misses += 1
            self._maybe_warn(now)
            return False

    def failed(self, exc: BaseException) -> None:
        with self.lock:
            now = time.monotonic()
            self.misses += 1
            self.retry_at = now + self.retry_seconds
            self.last_error = f"{type(exc).__name__}: {exc}"
            if self.down_since is None:
                self.down_since = self.warned_at = now
                self.misses = 0
                log.warning(
                    "cache unavailable (%s, %s): answering as misses, retrying every %.1f s",
                    self.location,
                    self.last_error,
                    self.retry_seconds,
                )
            else:
                self._maybe_warn(now)

    def succeeded(self) -> None:
        if self.down_since is None:
            return
        with self.lock:
            if self.down_since is None:
                return
            log.warning(
                "cache available again (%s) after %.1f s; %d calls were answered as misses, "
                "%d keys written or deleted meanwhile were removed",
                self.location,
                time.monotonic() - self.down_since,
                self.misses,
                self.forgotten,
            )
            self.down_since = None
            self.misses = self.forgotten = 0

    def _maybe_warn(self, now: float) -> None:
        if now - self.warned_at >= WARN_EVERY:
            log.warning(
                "cache still unavailable (%s, %s) for %.0f s; %d calls answered as misses",
                self.location,
                self.last_error,
                now - self.down_since,
                self.misses,
            )
            self.warned_at = now
            self.misses = 0


_health: dict[tuple, _Health] = {}
_health_lock = threading.Lock()


def _health_of(servers, retry_seconds) -> _Health:
    key = (tuple(servers), retry_seconds)
    with _health_lock:
        if key not in _health:
            location = ",".join(s.rsplit("@", 1)[-1] for s in servers)  # no password in logs
            _health[key] = _Health(location, retry_seconds)
        return _health[key]


class _Unavailable(Exception):
    pass


_INCR_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return false
"""


# Count one more under each of the first #ARGV keys (a counter expires ARGV[i] seconds after
# its first count), then read the remaining keys: one atomic round trip.
_COUNT_AND_READ = """
local found = {}
for i, key in ipairs(KEYS) do
  if i <= #ARGV then
    found[i] = redis.call('INCR', key)
    if found[i] == 1 then redis.call('EXPIRE', key, ARGV[i]) end
  else
    found[i] = redis.call('GET', key)
  end
end
return found
"""


class DegradingRedisCache(RedisCache):
    """django-redis's RedisCache whose every call is a miss while Redis is unavailable (see
    above).

    OPTIONS: `socket_connect_timeout` and `socket_timeout` (DEFAULT_OPTIONS),
    `unavailable_retry_seconds` (RETRY_SECONDS); other lower-case options go to redis-py's
    connection pool, upper-case ones to django-redis (IGNORE_EXCEPTIONS stays off).
    """

    def __init__(self, server, params):
        options = dict(params.get("OPTIONS") or {})
        retry_seconds = float(options.pop("unavailable_retry_seconds", RETRY_SECONDS))
        ours = {k: options.pop(k) for k in list(options) if k.islower()}
        ours = {**DEFAULT_OPTIONS, **ours}
        options["SOCKET_CONNECT_TIMEOUT"] = ours.pop("socket_connect_timeout")
        options["SOCKET_TIMEOUT"] = ours.pop("socket_timeout")
        options["CONNECTION_POOL_KWARGS"] = {**options.get("CONNECTION_POOL_KWARGS", {}), **ours}
        options["IGNORE_EXCEPTIONS"] = False
        super().__init__(server, {**params, "OPTIONS": options})
        servers = server if isinstance(server, (list, tuple)) else server.split(",")
        self._health = _health_of(servers, retry_seconds)

    @property
    def available(self) -> bool:
        """False while an outage is known (no call to Redis is made to find out)."""
        return not self._health.down

    def _run(self, method, *args, **kwargs):
        probing = self._health.down
        if not self._health.may_try():
            raise _Unavailable
        try:
            if probing:
                self._forget_dropped()
            result = method(*args, **kwargs)
        except UNAVAILABLE as exc:
            self._health.failed(exc)
            raise _Unavailable from exc
        self._health.succeeded()
        return result

    def _forget_dropped(self) -> None:
        """Delete what was written or deleted during the outage (see above)."""
        keys = self._health.take_dropped()
        if not keys:
            return
        try:
            client = self.client.get_client(write=True)
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])
        except BaseException:
            self._health.drop(keys, always=True)  # still to do
            raise
        self._health.forgotten += len(keys)

    def _dropped(self, keys, version, *, always: bool) -> None:
        made = [self.make_and_validate_key(key, version=version) for key in keys]
        self._health.drop(made, always=always)

    def ping(self) -> bool:
        """Whether Redis answers now (skipped, False, while it is known to be down)."""
        try:
            return bool(self._run(lambda: self.client.get_client(write=True).ping()))
        except _Unavailable:
            return False

    def get(self, key, default=None, version=None):
        try:
            return self._run(super().get, key, default, version)
        except _Unavailable:
            return default

    def get_many(self, keys, version=None):
        try:
            return self._run(super().get_many, keys, version)
        except _Unavailable:
            return {}

    def has_key(self, key, version=None):
        try:
            return self._run(super().has_key, key, version)
        except _Unavailable:
            return False

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return self._run(super().add, key, value, timeout, version)
        except _Unavailable:
            return False

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            self._run(super().set, key, value, timeout, version)
        except _Unavailable:
            self._dropped([key], version, always=self.get_backend_timeout(timeout) is None)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            self._run(super().set_many, data, timeout, version)
            return []
        except _Unavailable:
            self._dropped(data, version, always=self.get_backend_timeout(timeout) is None)
            return list(data)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        try:
            return self._run(super().touch, key, timeout, version)
        except _Unavailable:
            return False

    def delete(self, key, version=None):
        try:
            return bool(self._run(super().delete, key, version))
        except _Unavailable:
            self._dropped([key], version, always=True)
            return False

    def delete_many(self, keys, version=None):
        try:
            self._run(super().delete_many, keys, version)
        except _Unavailable:
            self._dropped(keys, version, always=True)

    def incr(self, key, delta=1, version=None):
        """Increment an existing key in one atomic round trip (ValueError if it is missing).

        Not django-redis's incr: on a value that is not an integer it falls back to a read
        and a write (not atomic), where a caller's bug should raise."""
        try:
            return self._run(self._incr_existing, key, delta, version)
        except _Unavailable:
            raise ValueError(f"Key '{key}' not found (the cache is unavailable).") from None

    def decr(self, key, delta=1, version=None):
        return self.incr(key, -delta, version)

    def _incr_existing(self, key, delta, version):
        made = self.make_and_validate_key(key, version=version)
        client = self.client.get_client(write=True)
        script = self.__dict__.get("_incr_script")
        if script is None:
            script = self._incr_script = client.register_script(_INCR_EXISTING)
        value = script(keys=[made], args=[delta], client=client)
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value

    def count_and_read(self, windows, read=(), version=None):
        """Count one more under each key of `windows` ((key, seconds): a counter lives
        `seconds` from its first count) and read the keys of `read`, in one atomic round
        trip: (the new counts, {key: value} of the keys of `read` found). While Redis is
        unavailable, as `incr` and `get_many` then: (a None per window, {})."""
        try:
            return self._run(self._count_and_read, list(windows), list(read), version)
        except _Unavailable:
            return [None] * len(windows), {}

    def _count_and_read(self, windows, read, version):
        keys = [self.make_and_validate_key(key, version=version) for key, _ in windows]
        keys += [self.make_and_validate_key(key, version=version) for key in read]
        client = self.client.get_client(write=True)
        script = self.__dict__.get("_count_and_read_script")
        if script is None:
            script = self._count_and_read_script = client.register_script(_COUNT_AND_READ)
        found = script(keys=keys, args=[int(seconds) for _, seconds in windows], client=client)
        values = {
            key: self.client.decode(value)
            for key, value in zip(read, found[len(windows) :], strict=True)
            if value is not None
        }
        return found[: len(windows)], values

    def clear(self):
        try:
            return self._run(super().clear)
        except _Unavailable:
            return False


def cache_state(cache) -> str:
    """ "ok" or "unavailable" for a cache; other backends than the above are "ok"."""
    ping = getattr(cache, "ping", None)
    if ping is None:
        return "ok"
    return "ok" if ping() else "unavailable"
