"""Cross-cutting middleware: request size limits, extra security headers, idle timeout,
no browser caching of signed-in responses."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import render
from django.utils.cache import get_max_age, patch_cache_control


def _has_nul(meta) -> bool:
    return "%00" in meta.get("QUERY_STRING", "") or "\x00" in meta.get("QUERY_STRING", "")


class RequestLimitsMiddleware:
    """Refuse oversized bodies before anything reads them; add Permissions-Policy.

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
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or "\x00" in request.path_info or _has_nul(request.META):
            response = render(request, "400.html", status=400)
        elif length > settings.MAX_REQUEST_BODY:
            response = render(
                request, "413.html", {"limit_mb": settings.MAX_REQUEST_BODY // 2**20}, status=413
            )
        else:
            response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        if not getattr(response, "xframe_options_exempt", False):
            response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        return response


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
