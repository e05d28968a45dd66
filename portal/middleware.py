"""Cross-cutting middleware: request size limits, extra security headers, idle timeout,
no browser caching of signed-in responses, the second factor's session mark."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpResponseNotAllowed
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import get_max_age, patch_cache_control
from django_otp.middleware import OTPMiddleware

from portal.accounts import second_factor
from portal.lib import page_cache


def _has_nul(meta) -> bool:
    return "%00" in meta.get("QUERY_STRING", "") or "\x00" in meta.get("QUERY_STRING", "")


ALLOWED_METHODS = ("GET", "HEAD", "POST")


def _too_large(request, limit):
    return render(
        request,
        "413.html",
        {"limit_mb": limit // 2**20, "limit_kb": max(1, limit // 1024)},
        status=413,
    )


def _content_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return -1


class DataVersionMiddleware:
    """The catalogue's data version is read at most once per request (portal/lib/page_cache.py:
    figures memoised per data version)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        page_cache.begin_request()
        try:
            return self.get_response(request)
        finally:
            page_cache.end_request()


class RequestLimitsMiddleware:
    """Refuse oversized bodies before anything reads them; add Permissions-Policy.

    Only GET, HEAD and POST reach the site: any other method (OPTIONS, TRACE, PUT, …) is a
    bare 405 with `Allow`, without rendering a page (no route of ours takes one). The body
    limit here is the largest any request may send (MAX_REQUEST_BODY, the admin's dataset
    import); BodyLimitMiddleware, once the user is known, applies the smaller ones.

    A NUL character in the path or the query string is refused too (400): no URL of ours
    has one, and lookups (a path segment, a filter or search parameter, in the site or the
    admin) would pass it to PostgreSQL, which cannot compare text with NUL (DataError, 500).

    Also sets X-Frame-Options on responses that did not pass through
    XFrameOptionsMiddleware (its own 400/413, errors raised by middleware between the two),
    unless a view is exempt. Static files get them only if this middleware is listed
    before WhiteNoiseMiddleware, which answers them itself.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = _content_length(request)
        if request.method not in ALLOWED_METHODS:
            response = HttpResponseNotAllowed(ALLOWED_METHODS)
        elif length < 0 or "\x00" in request.path_info or _has_nul(request.META):
            response = render(request, "400.html", status=400)
        elif length > settings.MAX_REQUEST_BODY:
            response = _too_large(request, settings.MAX_REQUEST_BODY)
        else:
            response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        if not getattr(response, "xframe_options_exempt", False):
            response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        return response


class BodyLimitMiddleware:
    """The body limit for who is asking, checked on Content-Length before anything reads
    the body (listed after AuthenticationMiddleware; nothing before it reads the body).

    Anonymous requests (the feedback form, sign-in, password reset) may send
    ANONYMOUS_MAX_REQUEST_BODY; signed-in users SIGNED_IN_MAX_REQUEST_BODY (admin forms);
    only the admin's dataset import takes up to MAX_REQUEST_BODY (checked earlier by
    RequestLimitsMiddleware). A body without Content-Length is not read at all (Django reads
    at most Content-Length bytes)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = _content_length(request)
        if length > 0:
            limit = self.limit_for(request)
            if length > limit:
                return _too_large(request, limit)
        return self.get_response(request)

    @staticmethod
    def limit_for(request) -> int:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return min(settings.ANONYMOUS_MAX_REQUEST_BODY, settings.MAX_REQUEST_BODY)
        if request.path_info in _large_body_paths():
            return settings.MAX_REQUEST_BODY
        return min(settings.SIGNED_IN_MAX_REQUEST_BODY, settings.MAX_REQUEST_BODY)


def _large_body_paths():
    return {reverse(name) for name in settings.LARGE_BODY_URL_NAMES}


class IdleTimeoutMiddleware:
    """Sign out signed-in users (reviewers and editors) after IDLE_TIMEOUT seconds idle."""

    KEY = "_last_seen"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            last = request.session.get(self.KEY)
            if last is not None and now - int(last) > settings.IDLE_TIMEOUT:
                logout(request)
                messages.info(
                    request,
                    "You were signed out after a period of inactivity. Please sign in again.",
                )
            elif last is None or now - int(last) > 60:
                # Writing at most once a minute keeps sessions from being saved on every hit.
                request.session[self.KEY] = now
        return self.get_response(request)


class SignedInNoStoreMiddleware:
    """Responses to signed-in users are never stored by the browser; signing out clears it.

    Anything rendered for a signed-in user may hold what only their role may see
    (preliminary and embargoed figures, drafts, the reviewers' thread), so it is sent
    `Cache-Control: private, no-store`: the back button or a later user of the same browser
    cannot bring it back from the disk cache after sign-out. The response that signs a user
    out (the sign-out view, the idle timeout) also sends `Clear-Site-Data: "cache"`, which
    drops what the browser kept from before (pages cached by an older release included).

    Listed after AuthenticationMiddleware and before IdleTimeoutMiddleware (whose sign-out
    it must see).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        signed_in = bool(user is not None and user.is_authenticated)
        response = self.get_response(request)
        still_signed_in = bool(request.user.is_authenticated)
        if signed_in or still_signed_in:
            if get_max_age(response):
                del response["Cache-Control"]  # a shared max-age must not survive
            patch_cache_control(response, private=True, no_store=True)
            response.headers["Cache-Control"] = ", ".join(
                part.strip()
                for part in response["Cache-Control"].split(",")
                if part.strip().lower() not in ("no-cache", "public")
            )
        if signed_in and not still_signed_in:
            response.headers["Clear-Site-Data"] = '"cache"'
        return response


class SecondFactorMiddleware(OTPMiddleware):
    """django-otp's OTPMiddleware (marks the request's user: `user.is_verified()`), with the
    session's device read from the shared cache instead of the database on every request."""

    def _device_from_persistent_id(self, persistent_id: str):
        return second_factor.cached_device(persistent_id, super()._device_from_persistent_id)
