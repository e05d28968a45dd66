"""The API's HTTP side: JSON bodies, the shared cache of public bodies, conditional GETs
(ETag, Last-Modified, 304), Cache-Control, Vary and CORS, all decided by the policy's role.

* Readers (anonymous or signed in without a role) get public data: an ETag (a hash of the
  body: no database id, no counter), a Last-Modified stamp, 304 answers, and CORS for
  anonymous requests (`*`, never credentials).
* Reviewers and editors may receive restricted data: `Cache-Control: private, no-store`,
  no validators, no CORS.

Readers' bodies are kept in the shared cache (json_response), like pages.
"""

import hashlib
import json
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, HttpResponseNotModified
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date, parse_http_date_safe

from mitigations import audit
from mitigations.models import Mitigation
from portal.lib import access, page_cache

LATEST_STAMP = "api:last-modified:latest"
EXPOSED = "ETag, Last-Modified, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining"


def actor(request):
    """The user the request acts for (set by authentication), or None before it."""
    return getattr(request, "auth", None)


def is_public(request) -> bool:
    user = actor(request)
    return user is not None and access.role_of(user) == access.READER


def render(data) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _seconds_left(lift) -> int:
    """How long a body may be kept: PAGE_CACHE_SECONDS, never past the next embargo lift."""
    timeout = settings.PAGE_CACHE_SECONDS
    if lift is not None:
        timeout = min(timeout, max(0, int((lift - timezone.now()).total_seconds())))
    return timeout


def audited(request, mitigation):
    """Record that the user saw a mitigation's restricted figures (mitigations/audit.py), and
    remember it, so that the body served again from the cache records it again."""
    audit.record_restricted_view(actor(request), mitigation)
    request.api_audited.append(mitigation.pk)


def json_response(request, build) -> HttpResponse:
    """`build()` -> data, rendered; for readers once per URL, day and catalogue version.

    Like the pages (portal/lib/page_cache.py), only readers share cached bodies; anyone with
    a role gets their own rendering. The role is in the key all the same, the day too
    (embargoes lift at the start of a day), and an entry never outlives the next lift. A
    hit repeats the audit records the rendering wrote (none for readers today)."""
    request.api_audited = []
    role = access.role_of(actor(request))
    if role != access.READER:
        # Private, no validators, never stored: no embargo lift to look up (`finish`).
        response = HttpResponse(render(build()), content_type="application/json")
        response.api_lift = response.api_stamp = None
        return response
    if settings.PAGE_CACHE_SECONDS <= 0:
        response = HttpResponse(render(build()), content_type="application/json")
        response.api_lift, response.api_stamp = access.next_embargo_change(), None
        return response
    url = request.build_absolute_uri()
    digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()
    key = f"api:body:{role}:{access.today()}:{digest}"
    found = cache.get_many([page_cache.VERSION_KEY, key])
    version = found.get(page_cache.VERSION_KEY) or page_cache.data_version()
    entry = found.get(key)
    if entry is not None and entry[0] == version:
        _version, body, lift, stamp, audited_pks = entry
        for pk in audited_pks:
            audit.record_restricted_view(actor(request), Mitigation(pk=pk))
    else:
        body = render(build())
        lift = access.next_embargo_change()
        stamp = last_modified(version) if role == access.READER else None
        timeout = _seconds_left(lift)
        if timeout > 0:
            cache.set(key, (version, body, lift, stamp, request.api_audited), timeout)
    response = HttpResponse(body, content_type="application/json")
    response.api_lift, response.api_stamp = lift, stamp
    return response


def last_modified(version) -> int:
    """When the public data last changed, as a Unix time, at most to the second late.

    The first request that sees a new data version (or a new day: an embargo may have
    lifted) stamps it with the time, one second past the previous stamp at least, so a
    client's If-Modified-Since never matches data newer than it has seen."""
    key = f"api:last-modified:{version}:{access.today()}"
    stamp = cache.get(key)
    if stamp is None:
        stamp = max(math.ceil(time.time()), (cache.get(LATEST_STAMP) or 0) + 1)
        if cache.add(key, stamp, 2 * 24 * 3600):
            cache.set(LATEST_STAMP, stamp, None)
        else:
            stamp = cache.get(key) or stamp
    return stamp


def _not_modified(request, etag, stamp) -> bool:
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or etag in tags
    since = parse_http_date_safe(request.headers.get("If-Modified-Since", ""))
    return since is not None and stamp is not None and since >= stamp


def finish(request, response, quota=None) -> HttpResponse:
    """Headers for every API response; a 304 when the client's copy is current."""
    patch_vary_headers(response, ["Authorization", "Cookie"])
    public = is_public(request)
    if public and response.status_code == 200:
        etag = '"' + hashlib.sha256(response.content).hexdigest()[:32] + '"'
        stamp = getattr(response, "api_stamp", None) or last_modified(page_cache.data_version())
        lift = getattr(response, "api_lift", None)
        max_age = _seconds_left(lift)
        if _not_modified(request, etag, stamp):
            response = HttpResponseNotModified()
            patch_vary_headers(response, ["Authorization", "Cookie"])
        response["ETag"] = etag
        response["Last-Modified"] = http_date(stamp)
        # A signed-in browser keeps nothing, like every signed-in page (portal.middleware).
        signed_in = request.user.is_authenticated
        response["Cache-Control"] = (
            "private, no-store" if signed_in else f"public, max-age={max_age}"
        )
    elif public or actor(request) is None:
        response["Cache-Control"] = "no-store"
    else:
        response["Cache-Control"] = "private, no-store"
    anonymous = "Authorization" not in request.headers and not request.user.is_authenticated
    if anonymous:
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Expose-Headers"] = EXPOSED
    if quota is not None:
        response["X-RateLimit-Limit"] = str(quota.limit)
        response["X-RateLimit-Remaining"] = str(max(0, quota.remaining))
        if quota.exceeded:
            response["Retry-After"] = str(quota.retry_after)
    return response
