"""Business operations on feedback: submitting it and moderating it.

Views, admin actions, the admin change form and commands all go through these functions,
so that attribution, history, duplicate handling and notifications happen in one place.
"""

import contextlib
from functools import cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, router, transaction
from django.db.models.signals import post_save, pre_save
from django.utils import timezone
from simple_history.signals import post_create_historical_record, pre_create_historical_record
from simple_history.utils import get_change_reason_from_object

from feedback import notifications
from feedback.models import Feedback
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


@cache
def _history_model():
    return Feedback.history.model


HISTORY_COLUMNS = ("history_date", "history_type", "history_change_reason", "history_user_id")


def _history_record(item):
    """The "+" history record of a new row, as simple_history's post_save handler makes it
    (tracked fields, date, user, change reason), unsaved."""
    history = _history_model()
    return history(
        history_date=getattr(item, "_history_date", None) or timezone.now(),
        history_type="+",
        history_user=getattr(item, "_history_user", None),
        history_change_reason=get_change_reason_from_object(item),
        **{field.attname: getattr(item, field.attname) for field in history.tracked_fields},
    )


def _history_signal(item, record, signal):
    signal.send(
        sender=type(record),
        instance=item,
        history_instance=record,
        history_date=record.history_date,
        history_user=record.history_user,
        history_change_reason=record.history_change_reason,
        using=None,
    )


def _insert_with_history(item):
    """INSERT a new row and its history record with the ORM (inside a transaction): the
    record made here rather than by simple_history's post_save handler, which builds a new
    manager class on every save (a third of the cost of storing feedback)."""
    item.skip_history_when_saving = True
    try:
        item.save(force_insert=True)
    finally:
        del item.skip_history_when_saving
    record = _history_record(item)
    _history_signal(item, record, pre_create_historical_record)
    record.save(force_insert=True)
    _history_signal(item, record, post_create_historical_record)


@cache
def _one_statement_plan(vendor):
    """(SQL, feedback fields, history fields) to insert feedback and its history record in
    one statement on PostgreSQL (a data-modifying WITH), built once from model metadata
    (quoted names, every value a bound parameter); None elsewhere, or when either model
    has a column this does not know how to fill (then the ORM path is used)."""
    if vendor != "postgresql":
        return None
    qn = connections[DEFAULT_DB_ALIAS].ops.quote_name
    opts, history = Feedback._meta, _history_model()
    hopts = history._meta
    fields = [f for f in opts.concrete_fields if f is not opts.pk]
    tracked = {f.attname for f in history.tracked_fields}
    hid = next(f for f in hopts.concrete_fields if f.attname == opts.pk.attname)
    hfields = [f for f in hopts.concrete_fields if f not in (hopts.pk, hid)]
    if any(f.attname not in tracked and f.attname not in HISTORY_COLUMNS for f in hfields):
        return None
    if any(f.has_db_default() or getattr(f, "generated", False) for f in fields + hfields):
        return None

    def columns(fs):
        return ", ".join(qn(f.column) for f in fs)

    marks = ", ".join(["%s"] * len(fields))
    hmarks = ", ".join(["%s"] * len(hfields))
    # Names from model metadata, quoted; every value is a parameter.
    table, htable, pk = qn(opts.db_table), qn(hopts.db_table), qn(opts.pk.column)
    sql = " ".join(
        [
            f"WITH new AS (INSERT INTO {table} ({columns(fields)})",  # noqa: S608
            f"VALUES ({marks}) RETURNING {pk})",
            f"INSERT INTO {htable} ({qn(hid.column)}, {columns(hfields)})",
            f"SELECT new.{pk}, {hmarks} FROM new",  # noqa: S608
            f"RETURNING {qn(hid.column)}, {qn(hopts.pk.column)}",
        ]
    )
    return sql, fields, hfields


def _insert_in_one_statement(item, plan, connection):
    """What `_insert_with_history` does, in one round trip and without a transaction of its
    own (one statement is atomic): the same values (each field's pre_save and
    get_db_prep_save), the same signals (pre_save, post_save with created=True, the history
    record's), the instance saved afterwards like after Model.save()."""
    sql, fields, hfields = plan
    alias = connection.alias
    item._prepare_related_fields_for_save(operation_name="save")
    pre_save.send(Feedback, instance=item, raw=False, using=alias, update_fields=None)
    params = [f.get_db_prep_save(f.pre_save(item, True), connection) for f in fields]
    record = _history_record(item)
    params += [f.get_db_prep_save(getattr(record, f.attname), connection) for f in hfields]
    _history_signal(item, record, pre_create_historical_record)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        item.pk, record.pk = cursor.fetchone()
    setattr(record, Feedback._meta.pk.attname, item.pk)
    for saved in (item, record):
        saved._state.adding, saved._state.db = False, alias
    item.skip_history_when_saving = True  # recorded above
    try:
        post_save.send(
            Feedback, instance=item, created=True, update_fields=None, raw=False, using=alias
        )
    finally:
        del item.skip_history_when_saving
    _history_signal(item, record, post_create_historical_record)


def _create(item, site_url):
    """Store a new row with its history record; editors are told once it is committed.

    On PostgreSQL both rows go in one statement: outside a transaction that is the whole
    commit (no BEGIN/COMMIT round trips), inside one it runs in a savepoint so that a
    duplicate (IntegrityError) leaves the caller's transaction usable."""
    connection = connections[router.db_for_write(Feedback, instance=item)]
    plan = _one_statement_plan(connection.vendor)
    if plan is None or not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        with transaction.atomic(using=connection.alias):
            if getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
                _insert_with_history(item)
            else:
                item.save(force_insert=True)
            notifications.feedback_received(item, site_url=site_url)
        return
    block = transaction.atomic(using=connection.alias)
    with block if connection.in_atomic_block else contextlib.nullcontext():
        _insert_in_one_statement(item, plan, connection)
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
