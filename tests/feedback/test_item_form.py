"""One feedback item in the admin: decision first, save and next, reply templates, the mail
preview, and the stale-form check."""

import re

import pytest
from django.utils import timezone

from feedback import services
from feedback.admin import columns
from feedback.models import ContactAddress, Feedback, ReplyTemplate
from tests.factories import FeedbackFactory, MitigationFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/feedback/feedback/"


def change_url(item, query=""):
    return f"{CHANGELIST}{item.pk}/change/{query}"


def form_data(item, **changes):
    item.refresh_from_db()
    data = {
        "status": item.status,
        "resolution": item.resolution,
        "public_reply": item.public_reply,
        "claimed_by": item.claimed_by_id or "",
        "seen": columns.version_of(item),
    }
    data.update(changes)
    return data


def test_decision_comes_before_the_details(editor_client):
    page = MitigationFactory(definition="Old words.")
    item = FeedbackFactory(
        mitigation=page, page_version=page.history.latest().history_id, ip_hash="f" * 64
    )
    html = editor_client.get(change_url(item)).text
    positions = [
        html.index(item.comment),
        html.index('name="status"'),
        html.index('name="public_reply"'),
        html.index("f" * 64),
    ]
    assert positions == sorted(positions)
    # Details folded (Django's collapsible fieldsets are <details>).
    details = html[html.index("<details") :]
    assert "f" * 64 in details
    assert "history id" in html
    assert f"/admin/mitigations/mitigation/{page.pk}/history/" in html


def test_section_then_and_now_with_the_diff(editor_client):
    page = MitigationFactory(definition="Train the model to refuse.", reasoning="Same.")
    item = FeedbackFactory(
        mitigation=page, page_version=page.history.latest().history_id, section="definition"
    )
    page.definition = "Train the model to refuse <harmful> requests."
    page.reasoning = "Changed reasoning, not this section."
    page.save()
    html = editor_client.get(change_url(item)).text
    assert "page changed since" in html
    assert "Written against" in html and "Train the model to refuse." in html
    assert "<ins>&lt;harmful&gt; requests</ins>" in html or "<ins>" in html
    section = html[html.index("The section then and now") :]
    section = section[: section.index("</fieldset>")]
    assert "Changed reasoning" not in section


def test_save_and_next_pending(editor_client, editor):
    items = [FeedbackFactory(comment=f"item {i}") for i in range(3)]
    first = items[2]  # newest first in the queue
    response = editor_client.post(
        change_url(first), {**form_data(first, status="approved"), "_save_next_pending": "1"}
    )
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.status == "approved" and first.history.latest().history_user == editor
    assert f"/{items[1].pk}/change/" in response["Location"]


def test_save_and_next_in_this_filter(editor_client):
    items = [FeedbackFactory(kind="source") for _ in range(3)]
    FeedbackFactory(kind="error")
    query = "?_changelist_filters=kind__exact%3Dsource"
    current = items[1]
    response = editor_client.post(
        change_url(current, query),
        {**form_data(current, status="rejected"), "_save_next_filter": "1"},
    )
    assert response.status_code == 302
    assert f"/{items[0].pk}/change/" in response["Location"]
    assert "_changelist_filters=kind__exact%3Dsource" in response["Location"]
    html = editor_client.get(change_url(current, query)).text
    assert "Save and next in this filter" in html and "Save and next pending" in html


def test_save_and_next_when_nothing_is_left(editor_client):
    item = FeedbackFactory()
    response = editor_client.post(
        change_url(item), {**form_data(item, status="approved"), "_save_next_pending": "1"}
    )
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST + "?status__exact=pending"


def test_stale_form_is_refused_with_a_clear_message(editor_client):
    other = UserFactory(username="ed1", role="editor")
    item = FeedbackFactory()
    data = form_data(item, status="approved", public_reply="Mine")
    services.moderate([item], other, status="rejected", reply="Theirs")
    response = editor_client.post(change_url(item), data)
    assert response.status_code == 200
    assert "changed by ed1" in response.text and "nothing was changed" in response.text
    item.refresh_from_db()
    assert (item.status, item.public_reply) == ("rejected", "Theirs")


@pytest.mark.parametrize("seen", ["garbage", "2026-01-01T00:00:00"])
def test_damaged_seen_field_is_a_form_error(editor_client, seen):
    item = FeedbackFactory()
    response = editor_client.post(change_url(item), form_data(item, status="spam", seen=seen))
    assert response.status_code == 200
    assert "open the item again" in response.text
    item.refresh_from_db()
    assert item.status == "pending"


def test_reply_templates_for_the_kind_and_editable(editor_client):
    ReplyTemplate.objects.all().delete()
    ReplyTemplate.objects.create(kind="source", title="Source added", text='Added "it".')
    ReplyTemplate.objects.create(kind="", title="Any kind", text="Thanks.")
    ReplyTemplate.objects.create(kind="error", title="Corrected", text="Fixed.")
    item = FeedbackFactory(kind="source")
    html = editor_client.get(change_url(item)).text
    assert 'data-reply-template="Added &quot;it&quot;."' in html
    assert "Any kind" in html and "Corrected" not in html
    assert editor_client.get("/admin/feedback/replytemplate/").status_code == 200
    response = editor_client.post(
        "/admin/feedback/replytemplate/add/",
        {"kind": "other", "resolution": "", "title": "New one", "text": "Hello", "position": 3},
    )
    assert response.status_code == 302
    assert ReplyTemplate.objects.filter(title="New one").exists()


def test_reviewers_cannot_edit_reply_templates(reviewer_client):
    assert reviewer_client.get("/admin/feedback/replytemplate/").status_code in (302, 403)


def test_mail_preview_shows_what_the_submitter_gets(editor_client):
    unconfirmed = FeedbackFactory(email="bo@example.org", contact_consent=True)
    assert "is not confirmed yet" in editor_client.get(change_url(unconfirmed)).text
    ContactAddress.objects.create(email="ann@example.org", confirmed_at=timezone.now())
    item = FeedbackFactory(
        email="ann@example.org", contact_consent=True, name="Ann", public_reply="<b>Fixed</b>"
    )
    html = editor_client.get(change_url(item)).text
    preview = html[html.index('class="fb-mail"') :]
    preview = preview[: preview.index("</div>")]
    assert "To: ann@example.org" in preview
    assert 'id="fb-mail-reply">&lt;b&gt;Fixed&lt;/b&gt;' in preview
    assert re.search(r"Hello Ann", preview)
    assert item.token in preview
    silent = FeedbackFactory(email="", contact_consent=False)
    assert "is not emailed" in editor_client.get(change_url(silent)).text


def test_assigning_an_editor_goes_through_the_service(editor_client, editor):
    other = UserFactory(username="ed2", role="editor")
    item = FeedbackFactory()
    response = editor_client.post(change_url(item), form_data(item, claimed_by=other.pk))
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.claimed_by == other and item.claimed_at is not None
    assert item.history.filter(claimed_by=other).first().history_user == editor


def test_only_editors_can_be_assigned(editor_client):
    reviewer = UserFactory(role="reviewer")
    item = FeedbackFactory()
    response = editor_client.post(change_url(item), form_data(item, claimed_by=reviewer.pk))
    assert response.status_code == 200
    item.refresh_from_db()
    assert item.claimed_by is None
    assert Feedback.objects.get(pk=item.pk).status == "pending"


def test_save_and_next_query_count_is_bounded(editor_client, editor, django_assert_max_num_queries):
    """User and permissions, the item with its page, the inline check, the list's count
    (short here: long ones come from the cached queue counts) and the next ids, the row
    lock, update and history, the refreshed decision, the log entry (and its content type,
    cached in production), with the test's savepoints: 19, was 26. No constraint checks
    (the fields' choices), no second read of the item's version, no taxonomy lookups."""
    items = FeedbackFactory.create_batch(3, mitigation=MitigationFactory())
    editor_client.get(CHANGELIST)  # the queue's counts cached, the session warm
    data = {**form_data(items[2], status="approved"), "_save_next_pending": "1"}
    with django_assert_max_num_queries(19) as captured:
        response = editor_client.post(change_url(items[2]), data)
    assert response.status_code == 302 and f"/{items[1].pk}/change/" in response["Location"]
    sql = [q["sql"] for q in captured.captured_queries]
    assert not [q for q in sql if '"_check"' in q]
    assert not [q for q in sql if 'FROM "mitigations_' in q]
