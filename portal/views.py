"""Portal-wide views: the About page, health check and the server-error handler."""

import contextlib
import functools
import ipaddress
import logging
import sys

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.http import HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.crypto import constant_time_compare
from django.views.decorators.cache import never_cache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from portal.lib.clientip import client_ip
from portal.lib.redis_cache import cache_state

log = logging.getLogger(__name__)


def about(request):
    """What the database is, how review works, who runs it, privacy. "Who runs it" is the
    deployment's own template (settings.ABOUT_OPERATOR_TEMPLATE)."""
    return render(
        request,
        "about/about.html",
        {
            "operator_template": settings.ABOUT_OPERATOR_TEMPLATE,
            "privacy_email": settings.PRIVACY_CONTACT_EMAIL,
        },
    )


def _deep_check_allowed(request) -> bool:
    """The load balancer's addresses (HEALTHZ_DEEP_ADDRESSES, addresses or networks) or the
    HEALTHZ_TOKEN in an `X-Healthz-Token` header."""
    token = settings.HEALTHZ_TOKEN
    if token and constant_time_compare(request.headers.get("X-Healthz-Token", ""), token):
        return True
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return any(address in _network(n) for n in settings.HEALTHZ_DEEP_ADDRESSES)


@functools.cache
def _network(text):
    return ipaddress.ip_network(text, strict=False)


@never_cache
def healthz(request):
    """For the load balancer (see _deep_check_allowed): 200 when a fresh database connection
    answers, 503 otherwise. For anyone else a cheap 200 that touches no backing service (a
    fresh connection per public request would be a lever for exhausting the database).

    The body also says whether the shared cache (Redis) answers, but a cache outage keeps
    the 200: every page works without the cache (portal/lib/redis_cache.py), and taking every
    app server out of the load balancer because of it would take the site down.
    """
    if not _deep_check_allowed(request):
        return JsonResponse({"status": "ok"})
    cache_ok = cache_state(cache)
    conn = None
    try:
        conn = connections.create_connection("default")
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except (DatabaseError, OSError) as exc:
        log.warning("health check failed: %s", exc.__class__.__name__)
        body = {"status": "unavailable", "database": "unreachable", "cache": cache_ok}
        return JsonResponse(body, status=503)
    finally:
        if conn is not None:
            with contextlib.suppress(DatabaseError):
                conn.close()
    status = "ok" if cache_ok == "ok" else "degraded"
    return JsonResponse({"status": status, "database": "ok", "cache": cache_ok})


# Errors of a backing service that is down or unreachable: the request may succeed later.
UNAVAILABLE = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)


def server_error(request):
    """handler500: a database that cannot be reached is a 503 (try again), not a 500. So is
    Redis, should an error of it ever get here (the cache backend answers misses instead).

    Rendered without a request context: nothing here may touch the database.
    """
    exc = sys.exc_info()[1]
    if isinstance(exc, UNAVAILABLE):
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
        response["Retry-After"] = "5"
        return response
    return HttpResponseServerError(loader.get_template("500.html").render())
