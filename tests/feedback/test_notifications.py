"""Email: editors on new feedback, submitters on resolution; after commit, via django.tasks."""

from types import SimpleNamespace

import pytest
from django.core import mail
from django.core.cache import cache
from django.db import transaction
from django.tasks import Task
from django.tasks.signals import task_enqueued
from django.urls import reverse
from django.utils import timezone

from feedback import notifications, services
from feedback.models import ContactAddress, Feedback
from tests.factories import FeedbackFactory, MitigationFactory, UserFactory
from tests.feedback.conftest import fill

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _cap_not_remembered(monkeypatch):
    # Each test has its own (cleared) cache: no process memory of a reached cap either.
    monkeypatch.setattr(notifications, "_capped", [None])


@pytest.fixture
def enqueued():
    seen = []

    def receiver(sender, task_result, **kwargs):
        seen.append(task_result.task.name)

    task_enqueued.connect(receiver)
    yield seen
    task_enqueued.disconnect(receiver)


@pytest.fixture
def ada_confirmed():
    """ada@example.org confirmed her address (double opt-in, tests/feedback/test_mail_safety.py)."""
    return ContactAddress.objects.create(email="ada@example.org", confirmed_at=timezone.now())


def submit(**kwargs):
    defaults = {"user": None, "submission_id": "s" * 32, "comment": "Hello", "ip_hash": "0" * 64}
    return services.submit(**{**defaults, **kwargs})


def test_notifications_are_tasks():
    assert isinstance(notifications.notify_editors, Task)
    assert isinstance(notifications.notify_submitter, Task)


def test_editors_get_one_mail_after_commit(
    settings,
    reader_client,
    mitigation,
    editor,
    reviewer,
    django_capture_on_commit_callbacks,
    enqueued,
):
    settings.EDITORS_EMAIL = ["team@example.org"]
    UserFactory(username="ex-editor", role="editor", is_active=False)
    url = reverse("feedback:page", args=[mitigation.code])
    data = fill(reader_client, url, comment="The source year is wrong.")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = reader_client.post(url, data)
        assert response.status_code == 302
        assert mail.outbox == [] and enqueued == []  # nothing before the commit
    assert callbacks  # enqueued by a commit callback (others bump cache versions)
    assert enqueued == ["notify_editors"]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == sorted([editor.email, "team@example.org"])
    assert reviewer.email not in message.to
    assert mitigation.code in message.subject and "\n" not in message.subject
    item = Feedback.objects.get()
    assert "The source year is wrong." in message.body
    assert reverse("admin:feedback_feedback_change", args=[item.pk]) in message.body
    assert item.token not in message.body and item.ip_hash not in message.body


def test_duplicate_post_notifies_once(
    reader_client, mitigation, editor, django_capture_on_commit_callbacks
):
    url = reverse("feedback:page", args=[mitigation.code])
    data = fill(reader_client, url)
    with django_capture_on_commit_callbacks(execute=True):
        reader_client.post(url, data)
        reader_client.post(url, data)
    assert len(mail.outbox) == 1


def test_no_mail_on_rollback(mitigation, editor, django_capture_on_commit_callbacks, enqueued):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        submit(mitigation=mitigation)
        raise RuntimeError("something later in the transaction failed")
    assert callbacks == [] and enqueued == [] and mail.outbox == []
    assert not Feedback.objects.exists()


def test_hourly_cap_on_editor_mail(
    settings, monkeypatch, editor, django_capture_on_commit_callbacks
):
    settings.FEEDBACK_NOTIFY_MAX_PER_HOUR = 2
    monkeypatch.setattr(notifications, "time", SimpleNamespace(time=lambda: 1_000_000_000.0))
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(4):
            submit(submission_id=f"{i}" * 32)
    assert len(mail.outbox) == 2
    assert Feedback.objects.count() == 4


def test_a_flood_queues_no_more_editor_tasks_than_the_cap(
    settings, monkeypatch, editor, django_capture_on_commit_callbacks, enqueued
):
    """Past this hour's cap no task is queued at all (the worker would only skip it)."""
    settings.FEEDBACK_NOTIFY_MAX_PER_HOUR = 3
    monkeypatch.setattr(notifications, "time", SimpleNamespace(time=lambda: 1_000_000_000.0))
    with django_capture_on_commit_callbacks(execute=True):
        for i in range(6):
            submit(submission_id=f"{i}" * 32)
    assert enqueued == ["notify_editors"] * 3
    assert len(mail.outbox) == 3
    assert Feedback.objects.count() == 6
    # The rest of the hour this process knows without asking the cache.
    with monkeypatch.context() as patched, django_capture_on_commit_callbacks(execute=True):
        asked = []
        patched.setattr(cache, "incr", lambda *a, **kw: asked.append(a) or 1)
        submit(submission_id="6" * 32)
    assert asked == [] and len(enqueued) == 3
    # The next hour has its own count.
    monkeypatch.setattr(notifications, "time", SimpleNamespace(time=lambda: 1_000_003_600.0))
    with django_capture_on_commit_callbacks(execute=True):
        submit(submission_id="7" * 32)
    assert len(enqueued) == 4


def test_editor_task_is_queued_when_the_cache_cannot_count(
    monkeypatch, editor, django_capture_on_commit_callbacks, enqueued
):
    """A cache that keeps nothing (incr: ValueError, add: False) does not stop the email."""

    def missing(*args, **kwargs):
        raise ValueError("no such key")

    monkeypatch.setattr(cache, "incr", missing)
    monkeypatch.setattr(cache, "add", lambda *args, **kwargs: False)
    with django_capture_on_commit_callbacks(execute=True):
        submit()
    assert enqueued == ["notify_editors"]


def test_submitter_mailed_once_when_resolved(
    editor, django_capture_on_commit_callbacks, enqueued, ada_confirmed
):
    item = FeedbackFactory(email="ada@example.org", contact_consent=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.moderate([item], editor, status="approved")
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        services.moderate(
            [item],
            editor,
            resolution="addressed",
            reply="Corrected, thanks.",
            site_url="https://portal.example.org/",
        )
    assert enqueued == ["notify_submitter"]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.org"]
    assert "Corrected, thanks." in message.body
    assert f"https://portal.example.org/feedback/t/{item.token}/" in message.body
    with django_capture_on_commit_callbacks(execute=True):
        services.moderate([item], editor, resolution="addressed", reply="Edited reply.")
    assert len(mail.outbox) == 1  # the resolution did not change


def test_no_mail_without_consent(editor, django_capture_on_commit_callbacks):
    item = FeedbackFactory(email="", contact_consent=False)
    with django_capture_on_commit_callbacks(execute=True):
        services.moderate([item], editor, resolution="declined")
    assert mail.outbox == []


def test_signed_in_submitter_mailed_at_account_address(
    reviewer, editor, django_capture_on_commit_callbacks
):
    item, _ = submit(user=reviewer, contact_consent=True)
    assert item.contact_consent and item.email == ""
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.moderate([item], editor, resolution="declined", reply="Out of scope.")
    assert [m.to for m in mail.outbox] == [[reviewer.email]]


def test_admin_action_mails_after_commit(
    editor_client, django_capture_on_commit_callbacks, ada_confirmed
):
    item = FeedbackFactory(email="ada@example.org", contact_consent=True)
    with django_capture_on_commit_callbacks(execute=True):
        editor_client.post(
            "/admin/feedback/feedback/",
            {
                "action": "mark_declined",
                "index": 0,
                "_selected_action": [item.pk],
                "apply": "Apply",
                "reply": "Not a mitigation.",
            },
        )
        assert mail.outbox == []
    assert len(mail.outbox) == 1 and "Not a mitigation." in mail.outbox[0].body
    assert f"/feedback/t/{item.token}/" in mail.outbox[0].body


def test_resolution_mail_does_not_name_a_page_that_became_a_draft(
    editor, django_capture_on_commit_callbacks, ada_confirmed
):
    page = MitigationFactory(name="Soon a draft", status="draft")
    item = FeedbackFactory(mitigation=page, email="ada@example.org", contact_consent=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.moderate([item], editor, resolution="addressed")
    assert len(mail.outbox) == 1 and "Soon a draft" not in mail.outbox[0].body
