"""Email about feedback, sent by background tasks after the database transaction commits.

- Editors get one email per new feedback item, as soon as it is stored. Feedback is rare
  (a few items a day on a catalogue of ~800 pages) and editors want to see it while the
  submitter is still around; a flood (anything the spam defence lets through) is capped at
  FEEDBACK_NOTIFY_MAX_PER_HOUR mails, after which the admin queue is the place to look.
- A submitter who left an email address (or signed in) and agreed to be contacted gets one
  email when their feedback is addressed or declined, with the public reply and the private
  tracking link.

The tasks take ids (JSON-serialisable arguments, as the database task backend requires) and
re-read the row, so a worker always sends what was committed.
"""

import logging
import time
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.core.mail import EmailMessage
from django.db import transaction
from django.tasks import task
from django.template.loader import render_to_string
from django.urls import reverse

from portal import access

log = logging.getLogger(__name__)

DEFAULT_MAX_PER_HOUR = 60


def _site_url(site_url=""):
    return (getattr(settings, "SITE_URL", "") or site_url or "").rstrip("/")


def editor_addresses() -> list[str]:
    """Active editors (per the access policy) with an email, plus settings.EDITORS_EMAIL."""
    staff = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="")
    addresses = {u.email for u in staff if access.can_moderate(u)}
    addresses.update(a for a in getattr(settings, "EDITORS_EMAIL", []) if a)
    return sorted(addresses)


def _under_hourly_cap() -> bool:
    cap = getattr(settings, "FEEDBACK_NOTIFY_MAX_PER_HOUR", DEFAULT_MAX_PER_HOUR)
    key = f"feedback:notify:{int(time.time() // 3600)}"
    cache.add(key, 0, timeout=3700)
    try:
        sent = cache.incr(key)
    except ValueError:
        sent = 1
    return sent <= cap


def _one_line(text, limit=120):
    return " ".join(str(text).split())[:limit]


@task
def notify_editors(feedback_id: int, site_url: str = "") -> int:
    from feedback.models import Feedback

    item = (
        Feedback.objects.select_related("mitigation", "user", "proposed_category")
        .filter(pk=feedback_id)
        .first()
    )
    recipients = editor_addresses()
    if item is None or not recipients:
        return 0
    if not _under_hourly_cap():
        log.warning("feedback #%s: editor email skipped (hourly cap reached)", feedback_id)
        return 0
    base = _site_url(site_url)
    where = item.mitigation.code if item.mitigation_id else "the portal (general)"
    context = {
        "item": item,
        "admin_url": base + reverse("admin:feedback_feedback_change", args=[item.pk]),
        "page_url": base + item.mitigation.get_absolute_url() if item.mitigation_id else "",
    }
    message = EmailMessage(
        subject=_one_line(f"[{settings.SITE_NAME}] New feedback on {where}"),
        body=render_to_string("feedback/email/new_feedback.txt", context),
        to=recipients,
    )
    return message.send()


@task
def notify_submitter(feedback_id: int, site_url: str = "") -> int:
    from feedback.models import Feedback

    item = Feedback.objects.select_related("mitigation", "user").filter(pk=feedback_id).first()
    if item is None or not item.contact_consent:
        return 0
    address = item.email or (item.user.email if item.user_id else "")
    if not address:
        return 0
    submitter = item.user if item.user_id else AnonymousUser()
    page = item.mitigation if item.mitigation_id else None
    context = {
        "item": item,
        # The page's name only while the submitter may still see it (not if it became a draft).
        "page": page if page and access.mitigation_is_visible(page, submitter) else None,
        "track_url": _site_url(site_url) + item.get_absolute_url(),
    }
    message = EmailMessage(
        subject=_one_line(
            f"[{settings.SITE_NAME}] Your feedback has been {item.get_resolution_display().lower()}"
        ),
        body=render_to_string("feedback/email/resolved.txt", context),
        to=[address],
    )
    return message.send()


def feedback_received(item, *, site_url=""):
    """Tell the editors about new feedback once the transaction that stored it commits."""
    transaction.on_commit(partial(notify_editors.enqueue, item.pk, site_url))


def feedback_resolved(item, *, site_url=""):
    """Tell the submitter (if they agreed) once the resolution is committed."""
    if item.contact_consent:
        transaction.on_commit(partial(notify_submitter.enqueue, item.pk, site_url))
