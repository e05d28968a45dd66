"""feedback/storage.py stores new feedback as Django's own path does, for less work.

Django's path is `Feedback.save()` with simple_history's post_save handler writing the "+"
history record. The storage's paths (one statement on PostgreSQL, the ORM elsewhere) must
store the same row and record and send the same signals.
"""

import datetime

import pytest
from django.db import connection, transaction
from django.db.models.signals import post_save, pre_save
from simple_history.signals import post_create_historical_record, pre_create_historical_record

from feedback import services, storage
from feedback.models import Feedback

pytestmark = pytest.mark.django_db

SIGNALS = {
    "pre_save": pre_save,
    "post_save": post_save,
    "pre_create_historical_record": pre_create_historical_record,
    "post_create_historical_record": post_create_historical_record,
}
# Differ between any two rows stored one after the other.
VOLATILE = {"id", "token", "submission_id", "created_at", "updated_at", "history_id"}
VOLATILE_HISTORY = VOLATILE | {"history_date"}

ONE_STATEMENT = pytest.param(
    "one_statement",
    marks=[
        pytest.mark.postgres,
        pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    ],
)


def test_history_record_of_new_feedback(reviewer, mitigation):
    """One "+" record, as simple_history makes it (on PostgreSQL written in the same
    statement as the row), and the usual save signals, once."""
    seen = []

    def receiver(sender, instance, created, **kwargs):
        seen.append((instance.pk, created))

    post_save.connect(receiver, sender=Feedback, dispatch_uid="test-history-record")
    try:
        item, created = services.submit(
            user=reviewer,
            submission_id="h" * 32,
            comment="Recorded once.",
            ip_hash="c" * 64,
            mitigation=mitigation,
            page_version=7,
            section="reasoning",
            kind="suggestion",
        )
    finally:
        post_save.disconnect(sender=Feedback, dispatch_uid="test-history-record")
    assert created and seen == [(item.pk, True)]
    assert not item._state.adding and item.pk is not None
    stored = Feedback.objects.get()
    assert stored.pk == item.pk and stored.created_at == item.created_at
    (record,) = stored.history.all()
    assert (record.history_type, record.history_user, record.history_change_reason) == (
        "+",
        reviewer,
        None,
    )
    for field in type(record).tracked_fields:
        assert getattr(record, field.attname) == getattr(stored, field.attname), field.name
    assert record.instance == stored
    # A later save of the same instance is recorded as a change, as usual.
    item.status = "approved"
    item.save()
    assert [r.history_type for r in stored.history.order_by("history_id")] == ["+", "~"]


def _new_feedback(mitigation, user, nonce):
    item = Feedback(
        mitigation=mitigation,
        page_version=7,
        section="reasoning",
        kind="classification",
        comment="Stored <the same> way & once.",
        proposed_category=mitigation.category,
        user=user,
        by_reviewer=user is not None,
        name="" if user else "Ann",
        email="" if user else "ann@example.org",
        contact_consent=True,
        ip_hash="c" * 64,
        submission_id=str(nonce) * 32,
    )
    item._history_user = user
    return item


def _stored(store, item):
    """What storing `item` with `store` left behind: (row, history records, signals), each
    without the values that differ between any two rows (ids, dates, random token)."""
    sent = []

    def receiver(signal_name):
        def record(sender, **kwargs):
            assert kwargs.pop("instance") is item
            kwargs.pop("signal")
            history = kwargs.pop("history_instance", None)
            if history is not None:
                assert history.history_type == "+"
                assert isinstance(kwargs.pop("history_date"), datetime.datetime)
            sent.append((signal_name, sender.__name__, sorted(kwargs.items())))

        return record

    receivers = {name: receiver(name) for name in SIGNALS}
    for name, signal in SIGNALS.items():
        # The history record's own pre_save/post_save: see test_no_one_listens_to_...
        sender = Feedback if signal in (pre_save, post_save) else None
        signal.connect(receivers[name], sender=sender, dispatch_uid=f"test-storage-{name}")
    try:
        store(item)
    finally:
        for name, signal in SIGNALS.items():
            signal.disconnect(dispatch_uid=f"test-storage-{name}")
    assert not item._state.adding and item._state.db == "default" and item.pk is not None
    row = Feedback.objects.filter(pk=item.pk).values().get()
    assert row["token"] == item.token and row["created_at"] == item.created_at
    records = list(Feedback.history.filter(id=item.pk).values())
    return (
        {k: v for k, v in row.items() if k not in VOLATILE},
        [{k: v for k, v in r.items() if k not in VOLATILE_HISTORY} for r in records],
        sorted(sent),
    )


def _django_save(item):
    item.save()


def _storage_insert(item):
    with storage.insert(item):
        pass


@pytest.fixture(params=["orm", ONE_STATEMENT])
def storage_path(request, monkeypatch):
    if request.param == "orm":
        monkeypatch.setattr(storage, "one_statement_plan", lambda vendor: None)
    return request.param


@pytest.mark.parametrize("signed_in", [True, False])
def test_storage_stores_what_djangos_save_stores(storage_path, reviewer, mitigation, signed_in):
    user = reviewer if signed_in else None
    expected = _stored(_django_save, _new_feedback(mitigation, user, 1))
    stored = _stored(_storage_insert, _new_feedback(mitigation, user, 2))
    assert stored == expected
    row, (record,), sent = stored
    assert record["history_type"] == "+" and record["history_user_id"] == (user and user.pk)
    assert [name for name, _, _ in sent] == sorted(SIGNALS)


def test_storage_inside_a_transaction_too(storage_path, reviewer, mitigation):
    with transaction.atomic():
        expected = _stored(_django_save, _new_feedback(mitigation, reviewer, 1))
        stored = _stored(_storage_insert, _new_feedback(mitigation, reviewer, 2))
    assert stored == expected


def test_without_history_storage_stores_only_the_row(settings, reviewer, mitigation):
    settings.SIMPLE_HISTORY_ENABLED = False
    expected = _stored(_django_save, _new_feedback(mitigation, reviewer, 1))
    stored = _stored(_storage_insert, _new_feedback(mitigation, reviewer, 2))
    assert stored == expected
    assert stored[1] == [] and Feedback.history.count() == 0


def test_the_block_runs_after_the_rows_are_stored(storage_path, mitigation):
    item = _new_feedback(mitigation, None, 3)
    with storage.insert(item):
        assert Feedback.objects.filter(pk=item.pk).exists()
        assert Feedback.history.filter(id=item.pk).count() == 1


def test_a_failing_block_inside_a_transaction_leaves_nothing(storage_path, mitigation):
    item = _new_feedback(mitigation, None, 4)
    with transaction.atomic():
        with pytest.raises(RuntimeError), storage.insert(item):
            raise RuntimeError
        assert not Feedback.objects.exists() and not Feedback.history.exists()


def test_no_one_listens_to_the_history_records_own_save():
    """The one statement sends no pre_save/post_save for the history record (Django's path
    does, when it saves the record): a receiver of those would need the ORM path."""
    history = Feedback.history.model
    assert not pre_save.has_listeners(history) and not post_save.has_listeners(history)


def test_the_one_statement_plan_is_used_on_postgresql_only():
    plan = storage.one_statement_plan(connection.vendor)
    assert (plan is not None) == (connection.vendor == "postgresql")
    if plan is not None:
        sql, fields, history_fields = plan
        assert sql.startswith("WITH new AS (INSERT INTO")
        assert sql.count("%s") == len(fields) + len(history_fields)
