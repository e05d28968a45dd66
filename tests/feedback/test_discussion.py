"""The reviewers' discussion: replies, their visibility, hiding, bad input and reply mail."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from feedback import notifications, services
from feedback.forms import REPLY_MAX
from feedback.models import Feedback, Reply, ReplyMail
from tests.conftest import verify_session
from tests.factories import FeedbackFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def item(mitigation, reviewer):
    return FeedbackFactory(
        mitigation=mitigation,
        user=reviewer,
        by_reviewer=True,
        status="approved",
        resolution="declined",
        public_reply="EDITORS-SAY-NO",
        comment="ITEM-TEXT",
    )


@pytest.fixture
def colleague(db):
    return UserFactory(username="cleo-reviewer", role="reviewer")


def reply_url(item, ref=None):
    return reverse("feedback:reply", args=[item.mitigation.code, ref or item.thread_ref])


def _client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return verify_session(client, user)


def test_a_reply_is_threaded_at_once_and_is_not_feedback(item, colleague, mitigation):
    client = _client(colleague)
    before = Feedback.objects.count()
    response = client.post(reply_url(item), {"comment": "REPLY-TEXT"})
    assert response.status_code == 302
    assert response["Location"].endswith(
        f"{mitigation.get_absolute_url()}#fb-item-{item.thread_ref}"
    )
    assert Feedback.objects.count() == before  # not a new item: not in the editors' queue
    assert Feedback.objects.pending().count() == 0
    html = client.get(mitigation.get_absolute_url()).content.decode()
    assert f"fb-item-{item.pk}" not in html  # no ids on pages
    item_html = html[html.index(f'id="fb-item-{item.thread_ref}"') :]
    replies = item_html[item_html.index("thread-replies") :]
    assert "REPLY-TEXT" in replies and "cleo-reviewer" in replies
    assert re.search(r"cleo-reviewer</strong> <span class=\"badge[^\"]*\">you</span>", replies)
    assert "Declined" in item_html and "EDITORS-SAY-NO" in item_html
    assert "Discussion (2)" in html


def test_you_marks_only_the_viewers_own_items(item, reviewer, colleague, mitigation):
    mine = _client(reviewer).get(mitigation.get_absolute_url()).content.decode()
    theirs = _client(colleague).get(mitigation.get_absolute_url()).content.decode()
    assert ">you</span>" in mine
    assert ">you</span>" not in theirs


@pytest.mark.parametrize("role", ["reader", "plain"])
def test_readers_never_see_the_thread_nor_may_reply(item, role, request, mitigation):
    Reply.objects.create(feedback=item, user=item.user, comment="REPLY-TEXT")
    client = request.getfixturevalue(f"{role}_client")
    html = client.get(mitigation.get_absolute_url()).content.decode()
    for secret in ("ITEM-TEXT", "REPLY-TEXT", "Discussion (", "EDITORS-SAY-NO", "/feedback/reply/"):
        assert secret not in html
    response = client.post(reply_url(item), {"comment": "Hi"})
    assert response.status_code == 404
    assert Reply.objects.count() == 1


@pytest.mark.parametrize("state", ["rejected", "spam", "deleted", "reader_item", "missing"])
def test_reply_to_a_hidden_or_deleted_item_is_404(item, reviewer_client, state, mitigation):
    url = reply_url(item)
    if state in ("rejected", "spam"):
        Feedback.objects.filter(pk=item.pk).update(status=state)
    elif state == "deleted":
        item.delete()
    elif state == "reader_item":
        url = reply_url(FeedbackFactory(mitigation=mitigation, status="approved"))
    else:
        url = reply_url(item, ref="0123456789abcdef")
    for method in ("get", "post"):
        response = getattr(reviewer_client, method)(url, {"comment": "Hi"})
        assert response.status_code == 404
    assert Reply.objects.count() == 0


@pytest.mark.parametrize(
    "text, error",
    [
        ("x" * (REPLY_MAX + 1), "Please keep your reply to"),
        ("see http://a.example http://b.example http://c.example http://d.example", "at most"),
        ("   ", "Please write your reply"),
    ],
)
def test_bad_reply_is_a_form_error_with_the_text_kept(item, reviewer_client, settings, text, error):
    settings.FEEDBACK_MAX_LINKS = 2
    response = reviewer_client.post(reply_url(item), {"comment": text})
    assert response.status_code == 200
    html = response.content.decode()
    assert error in html
    if text.strip():
        assert text in html  # kept in the form
    assert Reply.objects.count() == 0


def test_editors_can_hide_a_reply_in_the_admin(item, colleague, editor_client, mitigation):
    reply = services.reply_create(user=colleague, feedback=item, comment="HIDE-ME")
    url = reverse("admin:feedback_feedback_change", args=[item.pk])
    page = editor_client.get(url).content.decode()
    assert "HIDE-ME" in page  # the inline
    viewer = _client(colleague)
    assert "HIDE-ME" in viewer.get(mitigation.get_absolute_url()).content.decode()
    services.reply_set_hidden(reply=reply, by=UserFactory(username="ed2", role="editor"))
    assert "HIDE-ME" not in viewer.get(mitigation.get_absolute_url()).content.decode()
    reply.refresh_from_db()
    assert reply.hidden and reply.hidden_by.username == "ed2"


def test_admin_inline_hides_through_the_service(item, colleague, editor_client, editor):
    reply = services.reply_create(user=colleague, feedback=item, comment="HIDE-ME")
    url = reverse("admin:feedback_feedback_change", args=[item.pk])
    data = {
        "status": item.status,
        "resolution": item.resolution,
        "public_reply": item.public_reply,
        "replies-TOTAL_FORMS": "1",
        "replies-INITIAL_FORMS": "1",
        "replies-MIN_NUM_FORMS": "0",
        "replies-MAX_NUM_FORMS": "1000",
        "replies-0-id": str(reply.pk),
        "replies-0-feedback": str(item.pk),
        "replies-0-hidden": "on",
        "_save": "Save",
    }
    response = editor_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    reply.refresh_from_db()
    assert reply.hidden and reply.hidden_by == editor


def test_reply_mail_is_opt_in_capped_and_unsubscribes_in_one_click(
    item, reviewer, colleague, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.reply_create(user=colleague, feedback=item, comment="FIRST-REPLY")
    assert mail.outbox == []  # off by default
    services.reply_mail_set(user=reviewer, enabled=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.reply_create(user=colleague, feedback=item, comment="SECOND-REPLY")
    assert [m.to for m in mail.outbox] == [[reviewer.email]]
    message = mail.outbox[0]
    assert "SECOND-REPLY" in message.body
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.search(r"\S*/feedback/replies/email/off/\S+/", message.body)
    assert link, message.body
    path = link[0][link[0].index("/feedback/") :]
    from django.test import Client

    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.get(path).status_code == 200
    assert ReplyMail.objects.get(user=reviewer).enabled  # a GET changes nothing
    assert anonymous.post(path).status_code == 200  # one click (RFC 8058 POST), no session
    assert not ReplyMail.objects.get(user=reviewer).enabled
    assert anonymous.post(path.replace("/off/", "/off/x")).status_code == 404
    # The cap: over it, nothing is sent.
    services.reply_mail_set(user=reviewer, enabled=True)
    settings.FEEDBACK_NOTIFY_MAX_PER_HOUR = 0
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.reply_create(user=colleague, feedback=item, comment="THIRD-REPLY")
    assert mail.outbox == []


def test_account_page_switches_reply_mail(reviewer_client, reviewer):
    assert "Email me about replies" in reviewer_client.get("/accounts/").content.decode()
    reviewer_client.post(reverse("feedback:reply_mail"), {"enabled": "1"})
    assert ReplyMail.objects.get(user=reviewer).enabled
    assert "Stop these emails" in reviewer_client.get("/accounts/").content.decode()


def test_unsubscribe_tokens_are_signed(reviewer):
    token = notifications.unsubscribe_token(reviewer)
    assert notifications.unsubscribe_user_id(token) == reviewer.pk
    assert notifications.unsubscribe_user_id(token + "x") is None
    assert notifications.unsubscribe_user_id("1") is None
