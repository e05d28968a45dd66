"""Benchmark settings: production settings (portal.settings, from the environment) plus only
what the benchmark needs. Used by bench/run through bench/wsgi_bench.py.

* ROOT_URLCONF adds `/bench/baseline`, a minimal view behind the full middleware stack.
* FEEDBACK_RATE_LIMITS: the same limiter runs (same cache round trips), with limits no
  benchmark reaches: all load comes from one address, which the production limits (5 a
  minute) would turn into 429s after the fifth post.
* STATIC_ROOT: collectstatic writes under bench/ so that the shared tree's staticfiles/
  is left alone.

The page cache is configured as in production (PAGE_CACHE_SECONDS from the environment):
bench/run starts a second server with it off.
"""

from portal.settings import *  # noqa: F403
from portal.settings import BASE_DIR

ROOT_URLCONF = "bench.urls_bench"

FEEDBACK_RATE_LIMITS = {
    "ip": [(10**9, 60), (10**9, 24 * 60 * 60)],
    "user": [(10**9, 60)],
}

# The API's limits likewise (all load comes from one address and one token).
API_RATE_LIMITS = {"token": (10**9, 60), "address": (10**9, 60), "failed_tokens": (10**9, 60)}

STATIC_ROOT = BASE_DIR / "bench" / ".staticfiles"
