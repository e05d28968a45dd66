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
from django.core import signing
from django.core.mail import EmailMessage
from django.db import models, transaction
from django.tasks import task
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from feedback import counters
from feedback.models import ContactAddress, Feedback, Reply, ReplyMail
from portal.lib import access

log = logging.getLogger(__name__)


def _site_url(site_url=""):
    return (settings.SITE_URL or site_url or "").rstrip("/")


def editor_addresses() -> list[str]:
    """Active editors (per the access policy) with an email, plus settings.EDITORS_EMAIL."""
    accounts, others = _editor_recipients()
    return sorted(accounts | others)


def _editor_recipients() -> tuple[set, set]:
    """(addresses of editor accounts, which may read restricted feedback; other addresses
    such as settings.EDITORS_EMAIL, which are told only that restricted feedback arrived)."""
    staff = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="")
    accounts = {u.email for u in staff if access.account_can_moderate(u)}
    others = {a for a in settings.EDITORS_EMAIL if a} - accounts
    return accounts, others


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
    accounts, others = _editor_recipients()
    if item is None or not (accounts or others):
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
    if not access.feedback_is_restricted(item):
        groups = [(accounts | others, True)]
    else:  # the text only to accounts that may see restricted figures (the editors)
        groups = [(accounts, True), (others, False)]
    sent = 0
    for recipients, show_text in groups:
        if not recipients:
            continue
        restricted = " (restricted)" if not show_text else ""
        message = EmailMessage(
            subject=_one_line(f"[{settings.SITE_NAME}] New feedback{restricted} on {where}"),
            body=render_to_string(
                "feedback/email/new_feedback.txt", {**context, "show_text": show_text}
            ),
            to=sorted(recipients),
        )
        sent += message.send()
    return sent


def submitter_mail(item, site_url=""):
    """(subject, body) of the email a submitter gets when their feedback is resolved
    (also the editors' preview on the change form)."""
    submitter = access.as_account(item.user) if item.user_id else AnonymousUser()
    page = item.mitigation if item.mitigation_id else None
    context = {
        "item": item,
        # Restricted feedback's reply only to an account that may see restricted figures.
        "show_text": access.can_read_feedback_text(item, submitter),
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


# --- Replies in the reviewers' discussion ----------------------------------------------------

UNSUBSCRIBE_SALT = "feedback.reply-mail-off"


def unsubscribe_token(user) -> str:
    return signing.dumps(user.pk, salt=UNSUBSCRIBE_SALT, compress=False)


def unsubscribe_user_id(token: str) -> int | None:
    """The user a signed unsubscribe link is for, or None when it is not ours."""
    try:
        value = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


def thread_participants(feedback):
    """Accounts that took part in a feedback item's thread: its author and those who replied
    (hidden replies included: they took part)."""
    ids = set(Reply.objects.filter(feedback=feedback).values_list("user_id", flat=True))
    ids.add(feedback.user_id)
    ids.discard(None)
    return get_user_model().objects.filter(pk__in=ids, is_active=True).exclude(email="")


@task
def notify_thread(reply_id: int, site_url: str = "") -> int:
    """Email those who took part in the thread and asked for it (ReplyMail), except the
    one who replied, once per reply; capped per hour like the editors' mail."""
    reply = Reply.objects.select_related("feedback__mitigation", "user").filter(pk=reply_id).first()
    if reply is None or reply.hidden or reply.feedback.mitigation_id is None:
        return 0
    feedback = reply.feedback
    wanted = set(ReplyMail.objects.filter(enabled=True).values_list("user_id", flat=True))
    recipients = [
        u
        for u in map(access.as_account, thread_participants(feedback))
        if u.pk in wanted and u.pk != reply.user_id and access.can_see_reviewer_thread(u)
    ]
    base = _site_url(site_url)
    page = feedback.mitigation
    sent = 0
    for user in recipients:
        if _count_this_hour("reply-notify") > _cap():
            log.warning("reply #%s: thread email skipped (hourly cap reached)", reply_id)
            break
        unsubscribe = base + reverse("feedback:reply_mail_off", args=[unsubscribe_token(user)])
        context = {
            "reply": reply,
            "page": page if access.mitigation_is_visible(page, user) else None,
            "show_text": access.can_read_feedback_text(feedback, user),
            "thread_url": f"{base}{page.get_absolute_url()}#fb-item-{feedback.thread_ref}",
            "unsubscribe_url": unsubscribe,
        }
        message = EmailMessage(
            subject=_one_line(
                f"[{settings.SITE_NAME}] A new reply in a discussion you took part in"
            ),
            body=render_to_string("feedback/email/reply.txt", context),
            to=[user.email],
            headers={
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
        sent += message.send()
    return sent


def reply_posted(reply, *, site_url=""):
    """Tell the thread's participants (who asked for it) once the reply is committed."""
    transaction.on_commit(partial(notify_thread.enqueue, reply.pk, site_url))
