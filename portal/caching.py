"""Role-safe page caching.

Only pages for anonymous readers are cached (all anonymous readers see the same page).
Signed-in users always get a freshly rendered, `private` response, so no variant ever
crosses roles. Per-request values inside a cached page (the CSRF token, the feedback
form's signed timestamp) are rendered as markers and filled in on every hit.

The cache is invalidated by a data version bumped on every catalogue change (shared via the
cache, so every app process sees it), and never outlives the next embargo lift.
"""

import functools
import hashlib
import secrets

from django.conf import settings
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers

from portal import access

VERSION_KEY = "portal:data-version"
_MARK = "@@portal-fresh:{}@@"
_FRESH: dict[str, callable] = {"csrf": get_token}


def register_fresh(name, func):
    """Declare a per-request value `func(request) -> str` that cached pages leave open."""
    _FRESH[name] = func


def fresh_value(request, name):
    """The value for this request, or a marker when the page is being rendered for the cache."""
    if getattr(request, "_rendering_for_cache", False):
        return _MARK.format(name)
    return _FRESH[name](request)


def data_version():
    version = cache.get(VERSION_KEY)
    if version is None:
        version = secrets.token_hex(8)
        cache.add(VERSION_KEY, version, None)
        version = cache.get(VERSION_KEY, version)
    return version


def bump_data_version(**kwargs):
    cache.set(VERSION_KEY, secrets.token_hex(8), None)


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
        return False
    return not get_messages(request)


def _fill(request, body: str) -> str:
    for name, func in _FRESH.items():
        mark = _MARK.format(name)
        if mark in body:
            body = body.replace(mark, func(request))
    return body


def _headers(request, response):
    patch_vary_headers(response, ["Cookie"])
    patch_cache_control(response, private=True, no_cache=True)
    return response


def role_cached(view):
    """Cache a page for anonymous readers; mark every variant private and Vary: Cookie."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not _cacheable(request):
            return _headers(request, view(request, *args, **kwargs))
        path = request.get_full_path()
        digest = hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()
        # The date is in the key: embargoes lift at the start of a day, so no entry outlives one.
        key = f"portal:page:{access.READER}:{access.today()}:{data_version()}:{digest}"
        entry = cache.get(key)
        if entry is None:
            request._rendering_for_cache = True
            try:
                response = view(request, *args, **kwargs)
            finally:
                request._rendering_for_cache = False
            if response.status_code != 200 or response.streaming:
                return _headers(request, response)
            entry = (response.content.decode(), response.get("Content-Type"))
            timeout = _timeout()
            if timeout > 0:
                cache.set(key, entry, timeout)
        body, content_type = entry
        response = HttpResponse(_fill(request, body), content_type=content_type)
        return _headers(request, response)

    return wrapper


def csrf_context(request):
    """Template context that renders {% csrf_token %} as a per-request value."""
    return {"csrf_token": fresh_value(request, "csrf")}


def connect_invalidation(*models):
    for model in models:
        post_save.connect(bump_data_version, sender=model, dispatch_uid=f"bump-save-{model}")
        post_delete.connect(bump_data_version, sender=model, dispatch_uid=f"bump-del-{model}")
    for model in models:
        for field in model._meta.many_to_many:
            m2m_changed.connect(
                bump_data_version,
                sender=field.remote_field.through,
                dispatch_uid=f"bump-m2m-{model}-{field.name}",
            )
