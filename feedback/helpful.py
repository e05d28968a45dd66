"""'Was this page helpful? Yes / No': one click, no account, no JavaScript.

A visitor's answer counts once per page per day. Who answered is not stored: the cache keeps
only a keyed hash of (visitor, page, day) until the day is over, and the database keeps
counts per page (PageHelpfulness). A visitor is their account, or the client key of their
address (an IPv6 /64 is one visitor). The form carries a signed token of its page (the
page is cached for everyone, so the token is the same for all); there is no minimum time
(a click is quick). Answers go through the feedback forms' rate limits (antispam.py),
counted apart from feedback posts. While the cache is unavailable answers are not counted
(the once-a-day rule could not be kept).
"""

import datetime

from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.crypto import salted_hmac

from feedback.models import PageHelpfulness
from portal.lib.clientip import client_key

PAGE_SALT = "feedback.helpful.page"
ANSWERS = {"yes": "yes", "no": "no"}


def page_token(mitigation) -> str:
    return signing.dumps(mitigation.pk, salt=PAGE_SALT, compress=False)


def token_is_for(value, mitigation) -> bool:
    try:
        return signing.loads(value or "", salt=PAGE_SALT) == mitigation.pk
    except (signing.BadSignature, TypeError, ValueError):
        return False


def _visitor(request) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"client:{client_key(request)}"


def _seconds_left_today(now) -> int:
    tomorrow = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0)
    return max(60, int((tomorrow - now).total_seconds()) + 60)


def record_answer(request, mitigation, answer, *, now=None) -> bool:
    """Count `answer` ("yes"/"no") unless this visitor answered on this page today; True when
    it was counted."""
    now = timezone.localtime(now)
    seen = salted_hmac(
        "feedback.helpful.seen",
        f"{_visitor(request)}|{mitigation.pk}|{now.date().isoformat()}",
        algorithm="sha256",
    ).hexdigest()
    if not cache.add(f"helpful:seen:{seen}", 1, timeout=_seconds_left_today(now)):
        return False  # answered today already (or no cache to remember it: not counted)
    field = ANSWERS[answer]
    with transaction.atomic():
        PageHelpfulness.objects.get_or_create(mitigation_id=mitigation.pk)
        PageHelpfulness.objects.filter(mitigation_id=mitigation.pk).update(
            **{field: F(field) + 1, "updated_at": timezone.now()}
        )
    return True
