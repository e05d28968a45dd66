"""Business operations on feedback: submitting it and moderating it.

Views, admin actions, the admin change form and commands all go through these functions,
so that attribution, history, duplicate handling and notifications happen in one place.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone

from feedback import notifications, storage
from feedback.models import Feedback, Reply, ReplyMail
from portal.lib import access

RESOLVED = (Feedback.Resolution.ADDRESSED, Feedback.Resolution.DECLINED)


class DuplicateSubmission(Exception):
    """The form's nonce was already used by someone else: refuse without revealing anything."""


def _signed_in(user):
    return user is not None and user.is_authenticated


def _same_submitter(existing, item):
    if existing.user_id != item.user_id:
        return False
    return existing.user_id is not None or existing.ip_hash == item.ip_hash


def _create(item, site_url):
    """Store a new row with its history record (feedback/storage.py); editors are told
    once it is committed."""
    with storage.insert(item):
        notifications.feedback_received(item, site_url=site_url)


def submit(
    *,
    user,
    submission_id,
    comment,
    ip_hash,
    mitigation=None,
    page_version=None,
    section=Feedback.Section.OTHER,
    kind=Feedback.Kind.OTHER,
    proposed_category=None,
    name="",
    email="",
    contact_consent=False,
    site_url="",
) -> tuple[Feedback, bool]:
    """Store one piece of feedback; (feedback, created).

    `submission_id` is the form's nonce: submitting the same form again (double click,
    replayed POST, two racing requests) returns the row stored the first time, or raises
    DuplicateSubmission when that row is someone else's.
    """
    signed_in = _signed_in(user)
    consent = bool(contact_consent) and (bool(email) or (signed_in and bool(user.email)))
    item = Feedback(
        mitigation=mitigation,
        page_version=page_version,
        section=section,
        kind=kind,
        comment=comment,
        proposed_category=proposed_category,
        user=user if signed_in else None,
        by_reviewer=access.role_of(user) in (access.REVIEWER, access.EDITOR),
        # Signed-in users are attributed by account; anonymous contact data only with consent.
        name="" if signed_in else name,
        email=email if consent and not signed_in else "",
        contact_consent=consent,
        ip_hash=ip_hash,
        submission_id=submission_id,
    )
    item._history_user = item.user
    # No lookup first: a form is sent again rarely, so the unique index on submission_id
    # answers duplicates (and two racing requests alike). The failed INSERT rolls back only
    # this block (a savepoint when the caller is in a transaction already).
    try:
        _create(item, site_url)
        return item, True
    except IntegrityError:
        existing = Feedback.objects.filter(submission_id=submission_id).first()
        if existing is None:
            raise
    if not _same_submitter(existing, item):
        raise DuplicateSubmission
    return existing, False


def moderate(items, by, *, status=None, resolution=None, reply=None, site_url="") -> int:
    """Set status, resolution and/or public reply on feedback; the number of rows changed.

    Rows are locked while they change; each change records who moderated it and when (on
    the row and in its history). Submitters who asked to be contacted are emailed after
    commit when their feedback becomes addressed or declined.
    """
    if status is not None and status not in Feedback.Status.values:
        raise ValueError(f"Unknown status {status!r}")
    if resolution is not None and resolution not in Feedback.Resolution.values:
        raise ValueError(f"Unknown resolution {resolution!r}")
    if hasattr(items, "query") and items.query.is_sliced:
        selection = Feedback.objects.filter(pk__in=list(items.values_list("pk", flat=True)))
    elif hasattr(items, "query"):
        selection = Feedback.objects.filter(pk__in=items.order_by().values("pk"))
    else:
        selection = Feedback.objects.filter(pk__in=[getattr(i, "pk", i) for i in items])
    now = timezone.now()
    changed = 0
    with transaction.atomic():
        locked = selection.select_for_update().order_by("pk")
        for item in locked.iterator(chunk_size=500):
            before = (item.status, item.resolution, item.public_reply)
            if status is not None:
                item.status = status
            if resolution is not None:
                item.resolution = resolution
                if resolution in RESOLVED and status is None and item.status == "pending":
                    # Resolving an item is a moderation decision: it was read and is genuine.
                    item.status = Feedback.Status.APPROVED
            if reply is not None:
                item.public_reply = reply
            if (item.status, item.resolution, item.public_reply) == before:
                continue
            item.moderated_by = by
            item.moderated_at = now
            item._history_user = by
            item.save(
                update_fields=[
                    "status",
                    "resolution",
                    "public_reply",
                    "moderated_by",
                    "moderated_at",
                    "updated_at",
                ]
            )
            changed += 1
            if item.resolution != before[1] and item.resolution in RESOLVED:
                notifications.feedback_resolved(item, site_url=site_url)
    return changed


# --- The reviewers' discussion: replies ----------------------------------------------------


def reply_create(*, user, feedback, comment, site_url="") -> Reply:
    """Store a reply under a feedback item of the discussion; those who took part in the
    thread and asked for it are emailed once it is committed.

    The caller has checked that `user` may reply and may see `feedback` in the thread
    (access.can_reply, Feedback.objects.thread_for). A reply is not feedback: it is not
    moderated first and never enters the editors' queue."""
    with transaction.atomic():
        reply = Reply.objects.create(feedback=feedback, user=user, comment=comment)
        notifications.reply_posted(reply, site_url=site_url)
    return reply


def reply_set_hidden(*, reply, by, hidden=True) -> bool:
    """Hide a reply from the discussion (or show it again); whether it changed."""
    if reply.hidden == hidden:
        return False
    reply.hidden, reply.hidden_by = hidden, by if hidden else None
    reply.save(update_fields=["hidden", "hidden_by"])  # the page's thread version moves
    return True


def reply_mail_set(*, user, enabled: bool):
    """Turn the email about replies in one's threads on or off."""
    ReplyMail.objects.update_or_create(user=user, defaults={"enabled": bool(enabled)})
