"""Email about feedback, sent by background tasks after the database transaction commits.

- Editors get one email per new feedback item, as soon as it is stored. Feedback is rare
  (a few items a day on a catalogue of ~800 pages) and editors want to see it while the
  submitter is still around; a flood (anything the spam defence lets through) is capped at
  FEEDBACK_NOTIFY_MAX_PER_HOUR mails, after which the admin queue is the place to look
  (counted when the task is queued, so a flood queues no more tasks than that, and again
  when it is sent).
- A submitter who left an email address (or signed in) and agreed to be contacted gets one
  email when their feedback is addressed or declined, with the public reply and the private
  tracking link.
- Double opt-in: anyone can type any address into the form, so an address given by an
  anonymous submitter first gets only a request to confirm it (a fixed text with a signed
  link, at most once per FEEDBACK_CONFIRM_RESEND_HOURS), and updates go to confirmed
  addresses only. Account addresses (set by the editors) are trusted as they are.
- Text people wrote is quoted and delimited in every mail (templatetags/feedback_mail.py).

The tasks take ids (JSON-serialisable arguments, as the database task backend requires) and
re-read the row, so a worker always sends what was committed.
"""

import logging
import time
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.mail import EmailMessage
from django.db import models, transaction
from django.tasks import task
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from feedback import counters
from feedback.models import ContactAddress, Feedback
from portal.lib import access

log = logging.getLogger(__name__)


def _site_url(site_url=""):
    return (settings.SITE_URL or site_url or "").rstrip("/")


def editor_addresses() -> list[str]:
    """Active editors (per the access policy) with an email, plus settings.EDITORS_EMAIL."""
    staff = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="")
    addresses = {u.email for u in staff if access.account_can_moderate(u)}
    addresses.update(a for a in settings.EDITORS_EMAIL if a)
    return sorted(addresses)


def _count_this_hour(name, hour=None) -> int:
    """Count one more in this hour's counter `name` (shared cache; 1 if it cannot count)."""
    key = f"feedback:{name}:{int(time.time() // 3600) if hour is None else hour}"
    counted = counters.count(key, 3700)
    return 1 if counted is None else counted


def _cap() -> int:
    return settings.FEEDBACK_NOTIFY_MAX_PER_HOUR


def _under_hourly_cap() -> bool:
    return _count_this_hour("notify") <= _cap()


def _one_line(text, limit=120):
    return " ".join(str(text).split())[:limit]


@task
def notify_editors(feedback_id: int, site_url: str = "") -> int:
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


def submitter_mail(item, site_url=""):
    """(subject, body) of the email a submitter gets when their feedback is resolved
    (also the editors' preview on the change form)."""
    submitter = item.user if item.user_id else AnonymousUser()
    page = item.mitigation if item.mitigation_id else None
    context = {
        "item": item,
        # The page's name only while the submitter may still see it (not if it became a draft).
        "page": page if page and access.mitigation_is_visible(page, submitter) else None,
        "track_url": _site_url(site_url) + item.get_absolute_url(),
    }
    subject = _one_line(
        f"[{settings.SITE_NAME}] Your feedback has been {item.get_resolution_display().lower()}"
    )
    return subject, render_to_string("feedback/email/resolved.txt", context)


def submitter_address(item):
    """Where the submitter is emailed, or "" (no address, no consent, or an address given
    in the form that its owner has not confirmed)."""
    if not item.contact_consent:
        return ""
    if item.email:
        return item.email if ContactAddress.is_confirmed(item.email) else ""
    return item.user.email if item.user_id else ""


@task
def notify_submitter(feedback_id: int, site_url: str = "") -> int:
    item = Feedback.objects.select_related("mitigation", "user").filter(pk=feedback_id).first()
    if item is None:
        return 0
    address = submitter_address(item)
    if not address:
        if item.email and item.contact_consent:
            log.info("feedback #%s: update not sent (address not confirmed)", feedback_id)
        return 0
    subject, body = submitter_mail(item, site_url)
    return EmailMessage(subject=subject, body=body, to=[address]).send()


@task
def ask_to_confirm(email: str, site_url: str = "") -> int:
    """Ask an address given in the form to confirm it, unless it is confirmed already or
    was asked within FEEDBACK_CONFIRM_RESEND_HOURS. The mail holds nothing the submitter
    wrote: a stranger cannot use it to send text to someone else."""
    email = ContactAddress.normalise(email)
    if not email:
        return 0
    now = timezone.now()
    resend = now - timezone.timedelta(hours=settings.FEEDBACK_CONFIRM_RESEND_HOURS)
    address, _ = ContactAddress.objects.get_or_create(email=email)
    if address.confirmed_at is not None:
        return 0
    # Claimed in one statement: two workers never both send.
    claimed = (
        ContactAddress.objects.filter(pk=address.pk, confirmed_at__isnull=True)
        .filter(models.Q(asked_at__isnull=True) | models.Q(asked_at__lt=resend))
        .update(asked_at=now)
    )
    if not claimed:
        return 0
    if not _count_this_hour("confirm") <= _cap():
        log.warning("address confirmation skipped (hourly cap reached)")
        ContactAddress.objects.filter(pk=address.pk).update(asked_at=address.asked_at)
        return 0
    context = {
        "site_name": settings.SITE_NAME,
        "days": settings.FEEDBACK_CONFIRM_DAYS,
        "confirm_url": _site_url(site_url)
        + reverse("feedback:confirm", args=[ContactAddress.token_for(email)]),
    }
    message = EmailMessage(
        subject=_one_line(f"[{settings.SITE_NAME}] Please confirm your email address"),
        body=render_to_string("feedback/email/confirm_address.txt", context),
        to=[email],
    )
    return message.send()


# (hour, cap) once this process has seen the hour's cap reached: the count only grows within
# the hour, so the rest of the hour needs no cache call to know it.
_capped = [None]


def _queue_editor_mail(feedback_id, site_url):
    """Enqueue the editors' email, unless this hour's cap is already reached.

    The worker checks the cap again when it sends. Checking here too keeps a flood (the
    posts the spam defence lets through, hundreds a second) from adding a task row per post
    only for the worker to skip it: one cache call at most instead of a database write."""
    hour, cap = int(time.time() // 3600), _cap()
    if _capped[0] == (hour, cap):
        return
    queued = _count_this_hour("notify-queued", hour)
    if queued > cap:
        _capped[0] = (hour, cap)
        log.warning("feedback #%s: editor emails capped for this hour", feedback_id)
        return
    notify_editors.enqueue(feedback_id, site_url)


def feedback_received(item, *, site_url=""):
    """Tell the editors about new feedback once the transaction that stored it commits; ask
    an anonymous submitter's address to confirm itself (if it has not)."""
    transaction.on_commit(partial(_queue_editor_mail, item.pk, site_url))
    if item.email and item.contact_consent:
        transaction.on_commit(partial(ask_to_confirm.enqueue, item.email, site_url))


def feedback_resolved(item, *, site_url=""):
    """Tell the submitter (if they agreed) once the resolution is committed."""
    if item.contact_consent:
        transaction.on_commit(partial(notify_submitter.enqueue, item.pk, site_url))
