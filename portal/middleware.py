"""Cross-cutting middleware: request size limits, extra security headers, idle timeout."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.shortcuts import render


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
