"""Portal-wide views: health check and the signed-in user's account page."""

import contextlib
import logging
import sys

from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.http import HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.cache import never_cache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from feedback.models import Feedback
from portal import access

log = logging.getLogger(__name__)


@never_cache
def healthz(request):
    """200 when a fresh database connection answers, 503 otherwise."""
    conn = None
    try:
        conn = connections.create_connection("default")
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except (DatabaseError, OSError) as exc:
        log.warning("health check failed: %s", exc.__class__.__name__)
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    finally:
        if conn is not None:
            with contextlib.suppress(DatabaseError):
                conn.close()
    return JsonResponse({"status": "ok", "database": "ok"})


@never_cache
@login_required
def account(request):
    items = (
        Feedback.objects.of_user(request.user)
        .select_related("mitigation")
        .order_by("-created_at")[:200]
    )
    return render(
        request,
        "registration/account.html",
        {
            "feedback_items": items,
            "role_label": access.ROLE_LABELS.get(access.role_of(request.user)),
        },
    )


# Errors of a backing service that is down or unreachable: the request may succeed later.
UNAVAILABLE = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)


def server_error(request):
    """handler500: a database or cache (Redis) that cannot be reached is a 503 (try again),
    not a 500.

    Rendered without a request context: nothing here may touch the database.
    """
    exc = sys.exc_info()[1]
    if isinstance(exc, UNAVAILABLE):
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
        response["Retry-After"] = "5"
        return response
    return HttpResponseServerError(loader.get_template("500.html").render())
