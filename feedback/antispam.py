"""Spam and abuse defence for the feedback forms.

- CSRF is Django's own (the cached page gets a per-request token from portal.lib.page_cache).
- A honeypot field that people never see and bots fill in.
- A signed stamp (time + random nonce) rendered fresh on every request, even on cached
  pages: too fast, too old or tampered forms are refused; the nonce becomes the
  Feedback.submission_id, so a replayed or double-clicked form is stored once.
- Rate limits per client (hashed address; IPv6 by /64) and per account, counted in the shared cache
  (in the database's stored feedback while the cache is unavailable).
- Limits on links in the text, and rejection of undecodable bodies.

Settings (all optional; defaults below): FEEDBACK_MIN_SECONDS, FEEDBACK_MAX_AGE,
FEEDBACK_RATE_LIMITS, FEEDBACK_MAX_LINKS.
"""

import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.core import signing
from django.utils.crypto import salted_hmac

from feedback import counters
from feedback.models import Feedback
from portal.lib.clientip import client_key
from portal.lib.page_cache import data_version_unread, data_version_was_read, register_fresh

STAMP_SALT = "feedback.antispam.stamp"
HONEYPOT_FIELD = "website"

# A link: anything with a scheme or www., or a bare domain name (example.com, a.b.example.org,
# with or without a path), but not an email address (the part after @ is no link).
URL_RE = re.compile(
    r"(?:https?://|ftp://|www\.)\S+"
    r"|(?<![@\w.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{2,59})"
    r"(?![\w-])(?:[/?#]\S*)?",
    re.IGNORECASE,
)


# --- The signed stamp ----------------------------------------------------------------------


class StampError(Exception):
    """The stamp is missing, tampered, too fresh or too old; str() is the user's message."""


def new_stamp(request=None, *, now=None, nonce=None) -> str:
    """A signed (time, nonce) pair for a form about to be shown."""
    payload = {
        "t": int(time.time() if now is None else now),
        "n": nonce or secrets.token_urlsafe(24),
    }
    return signing.dumps(payload, salt=STAMP_SALT, compress=False)


def check_stamp(value, *, now=None) -> str:
    """The stamp's nonce when the form may be accepted now; StampError otherwise."""
    if not value:
        raise StampError("This form is incomplete. Reload the page and send it again.")
    try:
        payload = signing.loads(value, salt=STAMP_SALT)
        issued, nonce = int(payload["t"]), str(payload["n"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise StampError(
            "This form could not be verified. Reload the page and send it again."
        ) from None
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", nonce):
        raise StampError("This form could not be verified. Reload the page and send it again.")
    age = (time.time() if now is None else now) - issued
    if age < settings.FEEDBACK_MIN_SECONDS:
        raise StampError(
            "That was very quick. Please check your feedback and send it again in a few seconds."
        )
    if age > settings.FEEDBACK_MAX_AGE:
        raise StampError("This form was open for too long and has expired. Please send it again.")
    return nonce


# Cached anonymous pages leave the stamp open and fill it in on every request.
register_fresh("feedback_stamp", new_stamp)


# --- Client identity -----------------------------------------------------------------------


def ip_hash(request) -> str:
    """A keyed hash of the client (64 hex chars): countable, never reversible. The client is
    its `client_key`: an IPv4 address, or an IPv6 address's /64 (rotating addresses inside
    one /64 is one client)."""
    return salted_hmac("feedback.ip", client_key(request), algorithm="sha256").hexdigest()


# --- Honeypot and content checks -----------------------------------------------------------


def honeypot_filled(data) -> bool:
    return bool(data.get(HONEYPOT_FIELD, "").strip())


def count_links(text: str) -> int:
    return len(URL_RE.findall(text))


def max_links() -> int:
    return settings.FEEDBACK_MAX_LINKS


def body_is_decodable(request) -> bool:
    """False when a url-encoded body holds bytes that are not UTF-8 (raw or %-escaped).

    Django would silently replace them with U+FFFD; we refuse the request instead.
    """
    content_type = request.META.get("CONTENT_TYPE", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return True
    body = request.body
    try:
        body.decode("utf-8")
        for pair in body.split(b"&"):
            unquote_to_bytes(pair.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- Rate limits ---------------------------------------------------------------------------


@dataclass
class Limited:
    retry_after: int
    scope: str


def _limits():
    return settings.FEEDBACK_RATE_LIMITS or {}


def _recent_feedback(scope: str, ident: str, window: int, now: float):
    """Stored feedback of this account (scope "user") or anonymous address (scope "ip") in
    the last `window` seconds, newest first: the count when the cache cannot count."""
    since = datetime.fromtimestamp(now - window, tz=UTC)
    items = Feedback.objects.filter(created_at__gt=since)
    if scope == "user":
        items = items.filter(user_id=ident)
    else:
        items = items.filter(ip_hash=ident, user__isnull=True)
    return items.order_by("-created_at").values_list("created_at", flat=True)


def _database_limit(scope: str, ident: str, limit: int, window: int, now: float) -> int | None:
    """Seconds to wait when `limit` feedback were stored in the last `window` seconds
    (sliding window), else None. Used while the cache is unavailable."""
    recent = list(_recent_feedback(scope, ident, window, now)[:limit])
    if len(recent) < limit:
        return None
    # Once the limit-th newest is older than the window, one more may be sent.
    return max(1, int(recent[-1].timestamp() + window - now) + 1)


def rate_limit(request, *, now=None, counter="feedback") -> Limited | None:
    """Count this submission; a Limited (with seconds to wait) when over any limit.

    Counted in the shared cache. While the cache is unavailable, the limits are checked
    against the feedback stored in the database instead (fail safe, not open: a Redis
    outage is no time to let a flood through): the same limits over a sliding window,
    counting stored feedback only (refused forms are not stored, so not counted).

    `counter` names what is counted: other one-click answers ("helpful") have the same
    limits, counted apart from feedback posts (and not counted at all without the cache).
    """
    now = time.time() if now is None else now
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        scope, ident = "user", str(user.pk)
    else:
        scope, ident = "ip", ip_hash(request)
    limits = _limits().get(scope, [])
    # One second beyond the window, so that the counter outlives its slot. The request's
    # data version (page_cache) is read in the same round trip when it is still to be read.
    windows = [
        (f"{counter}:rate:{scope}:{window}:{int(now // window)}:{ident}", window + 1)
        for _limit, window in limits
    ]
    version_key = data_version_unread()
    counts, found = counters.count_many(windows, read=[version_key] if version_key else [])
    if version_key:
        data_version_was_read(found.get(version_key))
    worst = None
    for (limit, window), count in zip(limits, counts, strict=True):
        slot = int(now // window)
        # None when the cache keeps no counter (unavailable).
        if count is None:
            wait = (
                _database_limit(scope, ident, limit, window, now) if counter == "feedback" else None
            )
        elif count > limit:
            wait = max(1, int((slot + 1) * window - now) + 1)
        else:
            wait = None
        if wait is not None and (worst is None or wait > worst.retry_after):
            worst = Limited(retry_after=wait, scope=scope)
    return worst
