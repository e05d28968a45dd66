"""Mail content injection: single-line names, quoted user text, double opt-in of addresses."""

import re
import time

import pytest
from django.core import mail, signing
from django.urls import reverse
from django.utils import timezone

from feedback import services
from feedback.models import ContactAddress, Feedback
from tests.factories import FeedbackFactory
from tests.feedback.conftest import fill

pytestmark = pytest.mark.django_db

FORGED = "Moderate it: https://evil.example/admin/"


def page_url(mitigation):
    return reverse("feedback:page", args=[mitigation.code])


@pytest.mark.parametrize(
    "name",
    ["Ada\nModerate it: x", "Ada\rB", "Ada\u2028B", "Ada\u2029B", "Ada\x0bB", "Ada\x85B",
     "Ada\u202eB", "Ada\tB"],
)  # fmt: skip
def test_multi_line_names_are_a_form_error(reader_client, mitigation, name):
    data = fill(reader_client, page_url(mitigation), name=name)
    response = reader_client.post(page_url(mitigation), data)
    assert response.status_code == 200
    assert "on one line" in response.text
    assert not Feedback.objects.exists()


@pytest.mark.parametrize("name", ["Ada Lovelace", "Zoë O’Brien", "  Ada  ", "علی\u200cرضا"])
def test_ordinary_names_pass(reader_client, mitigation, name):
    data = fill(reader_client, page_url(mitigation), name=name)
    assert reader_client.post(page_url(mitigation), data).status_code == 302
    assert Feedback.objects.get().name == name.strip()


def test_editors_mail_quotes_the_comment_and_cannot_be_forged(
    settings, reader_client, mitigation, editor, django_capture_on_commit_callbacks
):
    comment = f"Looks fine.\n\n{FORGED}\r\nThanks,\u2028The editors"
    data = fill(reader_client, page_url(mitigation), comment=comment, name="Ada")
    with django_capture_on_commit_callbacks(execute=True):
        assert reader_client.post(page_url(mitigation), data).status_code == 302
    (message,) = mail.outbox
    lines = message.body.splitlines()
    moderate = [line for line in lines if line.startswith("Moderate it:")]
    item = Feedback.objects.get()
    assert moderate == [
        f"Moderate it: http://testserver{reverse('admin:feedback_feedback_change', args=[item.pk])}"
    ]
    assert f"> {FORGED}" in lines and "> The editors" in lines
    # The comment sits between the two delimiter lines, every line of it quoted.
    start, end = [i for i, line in enumerate(lines) if set(line) == {"-"}]
    assert all(line.startswith(">") for line in lines[start + 1 : end])
    assert lines[start + 1 : end] == [
        "> Looks fine.",
        ">",
        f"> {FORGED}",
        "> Thanks,",
        "> The editors",
    ]


def test_stored_multi_line_names_are_flattened_in_mail(editor, django_capture_on_commit_callbacks):
    item = FeedbackFactory(name=f"Bob\n{FORGED}", email="", contact_consent=False)
    from feedback import notifications

    notifications.notify_editors.call(item.pk)
    (message,) = mail.outbox
    assert not any(line.startswith(FORGED) for line in message.body.splitlines())


def test_resolution_mail_quotes_the_reply(editor, django_capture_on_commit_callbacks):
    ContactAddress.objects.create(email="ada@example.org", confirmed_at=timezone.now())
    item = FeedbackFactory(email="ada@example.org", contact_consent=True, name="Ada\nX")
    with django_capture_on_commit_callbacks(execute=True):
        services.moderate([item], editor, resolution="addressed", reply="Done.\nFollow: x")
    (message,) = mail.outbox
    assert "> Done.\n> Follow: x" in message.body
    assert "Hello Ada X," in message.body


# --- double opt-in -------------------------------------------------------------------------


def submit_with_address(client, mitigation, captured, email="victim@example.org", **fields):
    data = fill(
        client,
        page_url(mitigation),
        email=email,
        contact_consent="on",
        name="Mallory",
        comment="Visit https://evil.example now, you won a prize",
        **fields,
    )
    with captured(execute=True):
        response = client.post(page_url(mitigation), data)
    assert response.status_code == 302
    return response


def confirm_link(message):
    return re.search(r"http://testserver(/feedback/confirm/[^/\s]+/)", message.body)[1]


def test_the_first_mail_to_an_address_only_asks_to_confirm(
    settings, reader_client, mitigation, editor, django_capture_on_commit_callbacks
):
    settings.FEEDBACK_RATE_LIMITS = {"ip": [(100, 60)], "user": [(100, 60)]}
    submit_with_address(reader_client, mitigation, django_capture_on_commit_callbacks)
    to_victim = [m for m in mail.outbox if m.to == ["victim@example.org"]]
    assert len(to_victim) == 1
    (ask,) = to_victim
    assert "confirm" in ask.subject.lower()
    assert "evil.example" not in ask.body and "prize" not in ask.body
    assert "Mallory" not in ask.body
    assert ask.body.count("http") == 1  # the confirmation link, nothing else

    # Asked once: more feedback with the same address sends no second request.
    submit_with_address(
        reader_client, mitigation, django_capture_on_commit_callbacks, email="Victim@Example.org"
    )
    assert len([m for m in mail.outbox if "victim@example.org" in m.to[0].lower()]) == 1

    # Resolved while unconfirmed: no update goes there.
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.moderate(Feedback.objects.all(), editor, resolution="addressed", reply="Hi")
    assert mail.outbox == []
    assert not ContactAddress.is_confirmed("victim@example.org")


def test_confirming_the_address_lets_updates_through(
    reader_client, mitigation, editor, django_capture_on_commit_callbacks
):
    submit_with_address(reader_client, mitigation, django_capture_on_commit_callbacks)
    (ask,) = [m for m in mail.outbox if m.to == ["victim@example.org"]]
    link = confirm_link(ask)
    page = reader_client.get(link)
    assert page.status_code == 200 and "Confirm this address" in page.text
    assert not ContactAddress.is_confirmed("victim@example.org")  # a GET confirms nothing
    assert page["Referrer-Policy"] == "no-referrer"
    done = reader_client.post(link)
    assert done.status_code == 200 and "is confirmed" in done.text
    assert ContactAddress.is_confirmed("victim@example.org")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.moderate(Feedback.objects.all(), editor, resolution="addressed", reply="Hi")
    assert [m.to for m in mail.outbox] == [["victim@example.org"]]


def test_the_request_is_sent_again_after_the_resend_interval(
    settings, reader_client, mitigation, django_capture_on_commit_callbacks
):
    settings.FEEDBACK_RATE_LIMITS = {"ip": [(100, 60)], "user": [(100, 60)]}
    submit_with_address(reader_client, mitigation, django_capture_on_commit_callbacks)
    ContactAddress.objects.update(asked_at=timezone.now() - timezone.timedelta(hours=25))
    submit_with_address(reader_client, mitigation, django_capture_on_commit_callbacks)
    assert len([m for m in mail.outbox if m.to == ["victim@example.org"]]) == 2


@pytest.mark.parametrize(
    "token",
    [
        "x" * 30,
        signing.TimestampSigner(salt="other").sign_object({"e": "a@example.org"}),
        ContactAddress.token_for("a@example.org")[:-2] + "zz",
        "a" * 600,
    ],
)
def test_bad_confirmation_links_are_a_clear_400(reader_client, token):
    for method in (reader_client.get, reader_client.post):
        response = method(f"/feedback/confirm/{token}/")
        assert response.status_code == 400
        assert "not valid or has expired" in response.text
    assert not ContactAddress.objects.filter(confirmed_at__isnull=False).exists()


def test_expired_confirmation_links_are_refused(reader_client, settings, monkeypatch):
    token = ContactAddress.token_for("a@example.org")
    settings.FEEDBACK_CONFIRM_DAYS = 30
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 31 * 24 * 3600)
    response = reader_client.post(f"/feedback/confirm/{token}/")
    assert response.status_code == 400
    assert not ContactAddress.is_confirmed("a@example.org")
