"""Audit of restricted figures: who saw which page's preliminary or embargoed figures, when."""

from django.core.cache import cache
from django.db.models import F
from django.utils import timezone

from mitigations.models import FigureView
from portal.lib import access, stamps

# Seconds within which repeated views of a page's restricted figures are recorded once.
AUDIT_INTERVAL = 60


def record_restricted_view(user, mitigation, now=None):
    """Remember that a user saw a page's restricted figures today (one row a day).

    Written at most once a minute per user and page (`views` counts those minutes): a
    reviewer reading a page again and again must not cost a database write per request.
    When the cache cannot say whether this minute is recorded, it is written."""
    if not user.is_authenticated:
        return
    day = access.today(now)
    recent = f"portal:figure-view:{user.pk}:{mitigation.pk}:{day}"
    if cache.get(recent) is not None:
        return
    updated = FigureView.objects.filter(user=user, mitigation=mitigation, day=day).update(
        views=F("views") + 1, last_seen=timezone.now()
    )
    if not updated:
        FigureView.objects.get_or_create(
            user=user, mitigation=mitigation, day=day, defaults={"stamp": stamps.mark(user.pk, day)}
        )
    cache.set(recent, 1, AUDIT_INTERVAL)
