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


class StaleDecision(Exception):
    """The item changed since the editor's form was made (another editor decided it)."""

    def __init__(self, item):
        super().__init__(f"Feedback #{item.pk} changed since the form was opened")
        self.item = item


class MergeError(ValueError):
    """Items cannot be merged like this (into itself, into spam, into nothing)."""


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


def _selection(items):
    if hasattr(items, "query") and items.query.is_sliced:
        return Feedback.objects.filter(pk__in=list(items.values_list("pk", flat=True)))
    if hasattr(items, "query"):
        return Feedback.objects.filter(pk__in=items.order_by().values("pk"))
    return Feedback.objects.filter(pk__in=[getattr(i, "pk", i) for i in items])


def moderate(
    items,
    by,
    *,
    status=None,
    resolution=None,
    reply=None,
    site_url="",
    unchanged_since=None,
) -> int:
    """Set status, resolution and/or public reply on feedback; the number of rows changed.

    Rows are locked while they change; each change records who moderated it and when (on
    the row and in its history). Submitters who asked to be contacted are emailed after
    commit when their feedback becomes addressed or declined. Items merged into a changed
    item (its duplicates) get the same resolution and reply.

    `unchanged_since` (the `updated_at` the editor's form was made from) refuses the change
    with StaleDecision, and changes nothing, when an item was changed since.
    """
    if status is not None and status not in Feedback.Status.values:
        raise ValueError(f"Unknown status {status!r}")
    if resolution is not None and resolution not in Feedback.Resolution.values:
        raise ValueError(f"Unknown resolution {resolution!r}")
    selection = _selection(items)
    now = timezone.now()
    changed = 0
    answered = []  # items whose answer changed: their duplicates follow
    with transaction.atomic():
        locked = selection.select_for_update().order_by("pk")
        for item in locked.iterator(chunk_size=500):
            if unchanged_since is not None and item.updated_at != unchanged_since:
                raise StaleDecision(item)
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
            if (item.resolution, item.public_reply) != before[1:]:
                answered.append(item)
        for item in answered:
            duplicates = Feedback.objects.filter(duplicate_of=item).exclude(pk=item.pk)
            if duplicates.exists():
                changed += moderate(
                    duplicates,
                    by,
                    resolution=item.resolution,
                    reply=item.public_reply,
                    site_url=site_url,
                )
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


def claim(items, by, *, to=None, unchanged_since=None) -> int:
    """Make `to` (an editor; None to release) the one handling the items, recorded in
    their history as done by `by`; the number of rows changed. `unchanged_since` as for
    moderate()."""
    now = timezone.now()
    changed = 0
    with transaction.atomic():
        for item in _selection(items).select_for_update().order_by("pk"):
            if unchanged_since is not None and item.updated_at != unchanged_since:
                raise StaleDecision(item)
            if item.claimed_by_id == (to.pk if to else None):
                continue
            item.claimed_by = to
            item.claimed_at = now if to else None
            item._history_user = by
            item.save(update_fields=["claimed_by", "claimed_at", "updated_at"])
            changed += 1
    return changed


def merge(items, into, by, *, site_url="") -> int:
    """Mark `items` as duplicates of `into`: they are approved and answered with it (its
    resolution and reply, now and whenever it is answered); the number of items merged.

    MergeError when `into` is missing, one of the items, or spam. When `into` is itself
    merged into another item, that one is used; items merged into a chosen item move to
    `into` with it."""
    if into is None:
        raise MergeError("Choose the item to merge into.")
    seen = set()
    while into.duplicate_of_id is not None and into.pk not in seen:
        seen.add(into.pk)
        into = Feedback.objects.get(pk=into.duplicate_of_id)
    if into.status == Feedback.Status.SPAM:
        raise MergeError(f"#{into.pk} is spam: merge into an item that will be answered.")
    ids = list(_selection(items).values_list("pk", flat=True))
    if into.pk in ids:
        raise MergeError(f"#{into.pk} cannot be merged into itself.")
    now = timezone.now()
    merged = 0
    with transaction.atomic():
        # Items already merged into one of these follow them to the new primary.
        moved = Feedback.objects.filter(duplicate_of__in=ids).exclude(pk=into.pk)
        targets = Feedback.objects.filter(pk__in=[*ids, *moved.values_list("pk", flat=True)])
        for item in targets.select_for_update().order_by("pk"):
            if item.duplicate_of_id == into.pk:
                continue
            item.duplicate_of = into
            if item.status in (Feedback.Status.PENDING, Feedback.Status.REJECTED):
                item.status = Feedback.Status.APPROVED
            item.moderated_by, item.moderated_at = by, now
            item._history_user = by
            item.save(
                update_fields=[
                    "duplicate_of",
                    "status",
                    "moderated_by",
                    "moderated_at",
                    "updated_at",
                ]
            )
            merged += 1
        moderate(
            Feedback.objects.filter(duplicate_of=into),
            by,
            resolution=into.resolution,
            reply=into.public_reply,
            site_url=site_url,
        )
    return merged
