"""Storing new feedback: the row and its history record, faster than Model.save().

A speed shortcut, justified by the benchmark scenario `feedback_post` of bench/drive.py
(valid feedback POSTs as an anonymous reader, target >= 0.2 x baseline; bench/README.md
"Feedback POST", bench/profile_post.py). Django's own path is `item.save()` with
simple_history's post_save handler writing the "+" history record; that handler builds a
new manager class on every save (a third of the cost of storing feedback), so here:

* `history_record` makes the record as the handler does (tracked fields, date, user,
  change reason), and `insert` sends the same signals as that path (on PostgreSQL the
  record is made as an instance only when its signals have receivers: none by default);
* on PostgreSQL the row and its record go in one statement (a data-modifying WITH), one
  round trip and, outside a transaction, no BEGIN/COMMIT either (the record's copies of the
  row's fields come from the inserted row: few enough parameters for psycopg to convert the
  statement once per process); elsewhere, or when either
  model has a column the statement does not know how to fill, the ORM inserts both.

That both paths match Django's own (the same columns, history record and signals) is tested
in tests/feedback/test_storage.py. The business rules (who is attributed, duplicates,
notifications) stay in feedback/services.py, which calls `insert`.
"""

import contextlib
from functools import cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.db.models.signals import post_save, pre_save
from django.utils import timezone
from simple_history.signals import post_create_historical_record, pre_create_historical_record
from simple_history.utils import get_change_reason_from_object

from feedback.models import Feedback

HISTORY_COLUMNS = ("history_date", "history_type", "history_change_reason", "history_user_id")


@cache
def _history_model():
    return Feedback.history.model


def history_record(item):
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


def _record_columns(item):
    """The record's own columns (HISTORY_COLUMNS by attname), as `history_record` fills them."""
    user = getattr(item, "_history_user", None)
    return {
        "history_date": getattr(item, "_history_date", None) or timezone.now(),
        "history_type": "+",
        "history_change_reason": get_change_reason_from_object(item),
        "history_user_id": None if user is None else user.pk,
    }


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


def _insert_by_orm(item):
    """INSERT a new row and its history record with the ORM (inside a transaction): the
    record made here rather than by simple_history's post_save handler."""
    item.skip_history_when_saving = True
    try:
        item.save(force_insert=True)
    finally:
        del item.skip_history_when_saving
    record = history_record(item)
    _history_signal(item, record, pre_create_historical_record)
    record.save(force_insert=True)
    _history_signal(item, record, post_create_historical_record)


@cache
def one_statement_plan(vendor):
    """(SQL, feedback fields, history fields given as parameters) to insert feedback and its
    history record in one statement on PostgreSQL (a data-modifying WITH), built once from
    model metadata (quoted names, every value a bound parameter); None elsewhere, or when
    either model has a column this does not know how to fill (then the ORM path is used).

    The record's copies of the row's fields are taken from the inserted row (RETURNING), so
    only the row's values and the record's own columns (date, type, user, reason) are sent:
    fewer than psycopg's 50 parameters, so it converts the statement once per process."""
    if vendor != "postgresql":
        return None
    qn = connections[DEFAULT_DB_ALIAS].ops.quote_name
    opts, history = Feedback._meta, _history_model()
    hopts = history._meta
    fields = [f for f in opts.concrete_fields if f is not opts.pk]
    by_attname = {f.attname: f for f in opts.concrete_fields}
    tracked = {f.attname for f in history.tracked_fields}
    hid = next(f for f in hopts.concrete_fields if f.attname == opts.pk.attname)
    hfields = [f for f in hopts.concrete_fields if f not in (hopts.pk, hid)]
    if any(f.attname not in tracked and f.attname not in HISTORY_COLUMNS for f in hfields):
        return None
    if any(f.has_db_default() or getattr(f, "generated", False) for f in fields + hfields):
        return None
    copied = [f for f in hfields if f.attname not in HISTORY_COLUMNS]
    given = [f for f in hfields if f.attname in HISTORY_COLUMNS]

    def columns(fs):
        return ", ".join(qn(f.column) for f in fs)

    marks = ", ".join(["%s"] * len(fields))
    # Names from model metadata, quoted; every value is a parameter.
    table, htable, pk = qn(opts.db_table), qn(hopts.db_table), qn(opts.pk.column)
    returned = [opts.pk, *(by_attname[f.attname] for f in copied)]
    values = ", ".join(
        [f"new.{pk}", *(f"new.{qn(by_attname[f.attname].column)}" for f in copied)]
        + ["%s"] * len(given)
    )
    sql = " ".join(
        [
            f"WITH new AS (INSERT INTO {table} ({columns(fields)})",  # noqa: S608
            f"VALUES ({marks}) RETURNING {columns(returned)})",
            f"INSERT INTO {htable} ({qn(hid.column)}, {columns(copied)}, {columns(given)})",
            f"SELECT {values} FROM new",  # noqa: S608
            f"RETURNING {qn(hid.column)}, {qn(hopts.pk.column)}",
        ]
    )
    return sql, fields, given


def _insert_in_one_statement(item, plan, connection):
    """What `_insert_by_orm` does, in one round trip and without a transaction of its own
    (one statement is atomic): the same values (each field's pre_save and
    get_db_prep_save), the same signals (pre_save, post_save with created=True, the history
    record's), the instance saved afterwards like after Model.save(). The record's copies
    of the row's fields are the row's stored values (as simple_history copies them from the
    instance just saved)."""
    sql, fields, given = plan
    alias = connection.alias
    item._prepare_related_fields_for_save(operation_name="save")
    pre_save.send(Feedback, instance=item, raw=False, using=alias, update_fields=None)
    params = [f.get_db_prep_save(f.pre_save(item, True), connection) for f in fields]
    # The record as an instance only for receivers of its signals (none by default).
    history = _history_model()
    record = None
    if pre_create_historical_record.has_listeners(
        history
    ) or post_create_historical_record.has_listeners(history):
        record = history_record(item)
        _history_signal(item, record, pre_create_historical_record)
        own = {f.attname: getattr(record, f.attname) for f in given}
    else:
        own = _record_columns(item)
    params += [f.get_db_prep_save(own[f.attname], connection) for f in given]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        item.pk, record_pk = cursor.fetchone()
    item._state.adding, item._state.db = False, alias
    if record is not None:
        record.pk = record_pk
        setattr(record, Feedback._meta.pk.attname, item.pk)
        record._state.adding, record._state.db = False, alias
    item.skip_history_when_saving = True  # recorded above
    try:
        post_save.send(
            Feedback, instance=item, created=True, update_fields=None, raw=False, using=alias
        )
    finally:
        del item.skip_history_when_saving
    if record is not None:
        _history_signal(item, record, post_create_historical_record)


@contextlib.contextmanager
def insert(item):
    """Store a new Feedback row with its history record, then run the with-block.

    With the ORM (and without history) the insert and the block share one transaction: if
    the block raises, the row is not stored. On PostgreSQL both rows go in one statement:
    outside a transaction that is the whole commit (no BEGIN/COMMIT round trips; the block
    runs after it), inside one it runs in a savepoint with the block, so that a duplicate
    (IntegrityError) leaves the caller's transaction usable."""
    connection = connections[router.db_for_write(Feedback, instance=item)]
    history = getattr(settings, "SIMPLE_HISTORY_ENABLED", True)
    plan = one_statement_plan(connection.vendor) if history else None
    if plan is None:
        with transaction.atomic(using=connection.alias):
            if history:
                _insert_by_orm(item)
            else:
                item.save(force_insert=True)
            yield
        return
    block = transaction.atomic(using=connection.alias)
    with block if connection.in_atomic_block else contextlib.nullcontext():
        _insert_in_one_statement(item, plan, connection)
        yield
