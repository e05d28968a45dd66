"""Rate limits for the API: per token, or per address for requests without one.

Fixed windows counted in the shared cache (so every app process counts together): a little
inexact at window edges, for the sake of one cache call per request. Requests that present
a token are counted per token (by its digest, never the token); failed token attempts are
also counted per address, so guessing is limited too. When the cache cannot count, requests
are let through (the limits protect capacity, not data).
"""

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from portal.lib.clientip import client_ip


@dataclass
class Quota:
    limit: int
    remaining: int
    retry_after: int  # seconds until the window ends

    @property
    def exceeded(self) -> bool:
        return self.remaining < 0


def _hit(key: str, window: int, delta=1) -> int | None:
    """Count in a fixed window (cache.incr, else cache.add); None when nothing counts."""
    try:
        return cache.incr(key, delta)
    except ValueError:
        pass
    if cache.add(key, delta, timeout=window + 1):
        return delta
    try:
        return cache.incr(key, delta)
    except ValueError:
        return None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _window(kind: str, ident: str, now: float):
    limit, window = settings.API_RATE_LIMITS[kind]
    start = int(now) // window
    key = f"api:rate:{kind}:{ident}:{start}"
    return key, limit, window, window - int(now) % window


def check(request, token_header: str | None, now=None) -> Quota:
    """Count this request; the quota left in its bucket (negative: over the limit)."""
    now = time.time() if now is None else now
    address = _digest(client_ip(request))
    if token_header is not None:
        # Too many failed token attempts from this address: refused before any lookup.
        key, limit, _window_s, retry = _window("failed_tokens", address, now)
        failed = cache.get(key)
        if failed is not None and failed >= limit:
            return Quota(limit, -1, retry)
        key, limit, window, retry = _window("token", _digest(token_header), now)
    else:
        key, limit, window, retry = _window("address", address, now)
    count = _hit(key, window)
    return Quota(limit, limit - (count if count is not None else 0), retry)


def failed_token(request, now=None):
    now = time.time() if now is None else now
    key, _limit, window, _retry = _window("failed_tokens", _digest(client_ip(request)), now)
    _hit(key, window)
