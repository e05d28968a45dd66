"""The page cache for anonymous readers, and the catalogue's data version.

Anonymous readers share one cached rendering of a page. Signed-in users (reviewers,
editors) always get a rendering of their own: their pages show things per viewer (their
name, restricted figures with the audit of who saw them, the reviewers' thread), and
rendering them costs a few milliseconds (bench/README.md).

Per-request values inside a cached page (the CSRF token, the feedback form's signed
timestamp) are rendered as markers and filled in on every hit. A marker carries a
per-deployment secret and starts with `<`, which templates escape in user text, so no
search, comment or Markdown can produce one.

The key holds the path and only the query parameters the page reads (`params`); the view
sees only those, in one canonical order (so unknown or repeated parameters neither add
entries nor reach the rendering). Anonymous GETs that miss the cache are capped per client
address (PAGE_CACHE_MISS_LIMIT a minute; PAGE_CACHE_MISS_EXEMPT lists addresses without a
cap, such as the benchmark's): unique query strings cannot make the server render without
end.


Every response of a cached view stays `private` and `Vary: Cookie`. Entries are stored
with the catalogue's *data version* and count only while it holds; the version changes
with every catalogue change (`bump_data_version`, called by the catalogue's models and
querysets on every write, bulk ones included: mitigations/invalidation.py), and the
date is in the key (no entry outlives an embargo lift). `PAGE_CACHE_SECONDS = 0` turns the
page cache off.

The data version also keys figures memoised per process (`per_data_version`): counts, the
taxonomy tree, a filter's options; a request reads the version once (DataVersionMiddleware).
"""

import contextlib
import functools
import hashlib
import re
import secrets

from asgiref.local import Local
from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse, QueryDict
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.crypto import salted_hmac
from django.utils.safestring import mark_safe

from portal.lib import access
from portal.lib.clientip import client_ip, client_key

VERSION_KEY = "portal:data-version"
ENTRY_FORMAT = 4  # part of the key: entries of an older release are never unpacked


@functools.cache
def _marker_token() -> str:
    """A per-deployment secret (derived from SECRET_KEY) inside every marker.

    A marker is `<~TOKEN:name~>`. User text cannot produce one: it does not know the token,
    and text the templates escape turns `<` into `&lt;`. Without the token, a search for
    the marker's text (or a comment, a name, Markdown) was filled in like the real marker."""
    return salted_hmac("portal.page_cache.marker", "marker", algorithm="sha256").hexdigest()[:20]


def _mark(name) -> str:
    """The marker for `name`, safe for templates (its value is escaped when it is filled)."""
    return mark_safe(f"<~{_marker_token()}:{name}~>")  # noqa: S308 (no user text in it)


@functools.cache
def _mark_re():
    return re.compile(rb"<~" + _marker_token().encode() + rb":([A-Za-z0-9_]+)~>")


_FRESH: dict[str, callable] = {"csrf": get_token}


def register_fresh(name, func):
    """Declare a per-request value `func(request) -> str` that cached pages leave open."""
    _FRESH[name] = func


def fresh_value(request, name):
    """The value for this request, or a marker when the page is being rendered for the cache."""
    if getattr(request, "_rendering_for_cache", False):
        return _mark(name)
    return _FRESH[name](request)


# --- Versions: the one helper for "something changed" stamps kept in the shared cache -------


def cache_version(key) -> str:
    """The current version stamp stored under `key` (created on first use, never expires)."""
    version = cache.get(key)
    if version is None:
        cache.add(key, secrets.token_hex(8), None)
        version = cache.get(key, "-")
    return version


def bump_version(key):
    """Now, and again when the transaction commits: a page rendered between the change and
    the commit shows the old data and must not be kept under the new version."""

    def bump():
        cache.set(key, secrets.token_hex(8), None)
        if getattr(_request, "version", None):
            _request.version = None  # read again

    bump()
    transaction.on_commit(bump)


def data_version():
    """The catalogue's version: changes with every catalogue edit (part of every page key)."""
    return cache_version(VERSION_KEY)


def bump_data_version(**kwargs):
    bump_version(VERSION_KEY)


_request = Local()  # the data version as first read by the current request


def begin_request():
    """Called at the start of every request (portal.middleware): the request reads the data
    version once, however many memoised figures it uses."""
    _request.version = None


def end_request():
    with contextlib.suppress(AttributeError):
        del _request.version


def current_data_version():
    """The data version, read once per request (every call outside a request reads it)."""
    in_request = hasattr(_request, "version")
    if in_request and _request.version:
        return _request.version
    version = cache.get(VERSION_KEY) or data_version()
    if in_request:
        _request.version = version
    return version


def data_version_unread():
    """The data version's cache key while the current request has not read the version yet,
    else None: a caller that makes a cache round trip anyway early in a request (the
    feedback rate limiter) reads it along and hands the value to `data_version_was_read`."""
    if hasattr(_request, "version") and not _request.version:
        return VERSION_KEY
    return None


def data_version_was_read(value):
    """The data version as read along by another round trip of this request (None: not
    found; then `current_data_version` reads it as usual)."""
    if value and hasattr(_request, "version"):
        _request.version = value


def per_data_version(func):
    """Memoise `func(*args)` in this process for as long as the catalogue's data version
    holds: for what every request would otherwise compute again from the same data (counts,
    the taxonomy tree, a filter's options). The result is shared by every request of the
    process: it must be the same for everyone passing the same arguments, and be read only.
    While the version is unknown (the shared cache is unavailable) nothing is kept."""
    store = {}

    @functools.wraps(func)
    def wrapper(*args):
        version = current_data_version()
        if version == "-":
            return func(*args)
        key = (version, args)
        try:
            return store[key]
        except KeyError:
            pass
        value = func(*args)
        if len(store) >= 512:
            store.clear()
        store[key] = value
        return value

    wrapper.cache_clear = store.clear
    return wrapper


def _timeout():
    timeout = settings.PAGE_CACHE_SECONDS
    lift = access.next_embargo_change()
    if lift is not None:
        timeout = min(timeout, max(0, int((lift - timezone.now()).total_seconds())))
    return timeout


def _cacheable(request):
    if request.method not in ("GET", "HEAD") or settings.PAGE_CACHE_SECONDS <= 0:
        return False
    if request.user.is_authenticated:
        return False  # rendered per viewer
    return not get_messages(request)


def _split(body: bytes) -> tuple:
    """The body as alternating bytes and marker names: (b"text", "csrf", b"text", ...).

    Kept as bytes (what the response sends), so a hit neither decodes nor encodes the page."""
    parts = _mark_re().split(body)
    parts[1::2] = [name.decode("ascii") for name in parts[1::2]]
    return tuple(parts)


def _fill(request, parts, charset) -> bytes:
    values = {}
    out = list(parts)
    for i in range(1, len(out), 2):
        name = out[i]
        if name not in values:
            value = _FRESH[name](request) if name in _FRESH else _mark(name)
            values[name] = str(value).encode(charset)
        out[i] = values[name]
    return b"".join(out)


def _headers(request, response):
    patch_vary_headers(response, ["Cookie"])
    patch_cache_control(response, private=True, no_cache=True)
    return response


def _only_params(request, params):
    """Keep only the query parameters the page reads (the last value of each, sorted): the
    view, its templates and the cache key all see this one canonical query."""
    query = QueryDict(mutable=True)
    for name in sorted(params):
        if name in request.GET:
            query[name] = request.GET.getlist(name)[-1]
    request.GET = query
    request.META["QUERY_STRING"] = query.urlencode()


def _miss_limited(request) -> HttpResponse | None:
    """A 429 when this anonymous address rendered too many pages past the cache this
    minute. Counted in the shared cache; without it nothing is counted (fail open: a cache
    outage makes every request a miss)."""
    limit = settings.PAGE_CACHE_MISS_LIMIT
    if not limit or request.user.is_authenticated:
        return None
    if client_ip(request) in settings.PAGE_CACHE_MISS_EXEMPT:
        return None
    now = timezone.now().timestamp()
    # Counted by the client key (an IPv6 client by its /64, as every limit).
    ident = salted_hmac("portal.page_cache.miss", client_key(request), algorithm="sha256")
    ident = ident.hexdigest()[:32]
    key = f"portal:miss:{int(now // 60)}:{ident}"
    try:
        count = cache.incr(key)
    except ValueError:
        count = 1 if cache.add(key, 1, timeout=61) else None
    if count is None or count <= limit:
        return None
    retry = max(1, 60 - int(now % 60))
    response = render(request, "429.html", {"retry_after": retry}, status=429)
    response["Retry-After"] = str(retry)
    return response


def cached_for_readers(view=None, *, params=()):
    """Serve anonymous readers a shared rendering (see the module docstring); everyone else
    gets the view's own. Every response private and Vary: Cookie.

    `params`: the query parameters the page reads (all others are dropped before the view
    runs, and are not part of the key).
    """
    if view is None:
        return functools.partial(cached_for_readers, params=params)

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        _only_params(request, params)
        if not _cacheable(request):
            return _headers(request, view(request, *args, **kwargs))
        path = request.get_full_path()
        digest = hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()
        # The date is in the key: embargoes lift at the start of a day, so no entry outlives
        # one. The data version is stored in the entry and fetched in the same round trip.
        key = f"portal:page:{ENTRY_FORMAT}:{access.READER}:{access.today()}:{digest}"
        found = cache.get_many([VERSION_KEY, key])
        version = found.get(VERSION_KEY) or data_version()
        if hasattr(_request, "version"):
            _request.version = version
        entry = found.get(key)
        if entry is not None and entry[0] == version:
            _, parts, content_type, charset = entry
        else:
            limited = _miss_limited(request)
            if limited is not None:
                return _headers(request, limited)
            request._rendering_for_cache = True
            try:
                response = view(request, *args, **kwargs)
            finally:
                request._rendering_for_cache = False
            if response.status_code != 200 or response.streaming:
                return _headers(request, response)
            parts, charset = _split(response.content), response.charset
            content_type = response.get("Content-Type")
            timeout = _timeout()
            if timeout > 0:
                cache.set(key, (version, parts, content_type, charset), timeout)
        response = HttpResponse(_fill(request, parts, charset), content_type=content_type)
        return _headers(request, response)

    return wrapper
