"""Moderation in the admin: editors only, every change through services.moderate, history."""

import csv
import io
import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from feedback import services
from feedback.admin import STATUS_COUNTS_KEY, word_diff
from feedback.models import Feedback
from tests.conftest import verify_session
from tests.factories import CategoryFactory, FeedbackFactory, MitigationFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/feedback/feedback/"


def act(client, action, items, **extra):
    return client.post(
        CHANGELIST,
        {
            "action": action,
            "index": 0,
            ACTION_CHECKBOX_NAME: [i.pk for i in items],
            **extra,
        },
    )


@pytest.mark.parametrize(
    ("action", "status"),
    [("approve", "approved"), ("reject", "rejected"), ("mark_spam", "spam")],
)
def test_status_actions_record_who_and_when(editor_client, editor, action, status):
    items = FeedbackFactory.create_batch(3)
    untouched = FeedbackFactory()
    response = act(editor_client, action, items)
    assert response.status_code == 302
    for item in items:
        item.refresh_from_db()
        assert item.status == status
        assert item.moderated_by == editor and item.moderated_at is not None
        latest = item.history.order_by("-history_id").first()
        assert latest.status == status and latest.history_user == editor
        assert latest.history_type == "~"
        assert item.history.count() == 2
    untouched.refresh_from_db()
    assert untouched.status == "pending" and untouched.moderated_by is None


@pytest.mark.parametrize(
    ("action", "resolution"), [("mark_addressed", "addressed"), ("mark_declined", "declined")]
)
def test_resolution_actions_ask_for_a_public_reply(editor_client, editor, action, resolution):
    items = FeedbackFactory.create_batch(2)
    page = act(editor_client, action, items)
    assert page.status_code == 200
    assert "Public reply" in page.text and 'name="apply"' in page.text
    assert all(i.comment in page.text for i in items)
    assert Feedback.objects.filter(resolution="open").count() == 2  # nothing changed yet

    done = act(editor_client, action, items, apply="Apply", reply="Fixed in the new version.")
    assert done.status_code == 302
    for item in items:
        item.refresh_from_db()
        assert item.resolution == resolution
        assert item.public_reply == "Fixed in the new version."
        assert item.moderated_by == editor
        assert item.history.order_by("-history_id").first().history_user == editor


def test_resolution_across_all_filtered_rows(editor_client):
    mine = MitigationFactory()
    FeedbackFactory.create_batch(3, mitigation=mine)
    other = FeedbackFactory()
    response = editor_client.post(
        f"{CHANGELIST}?page={mine.code}",
        {
            "action": "mark_declined",
            "index": 0,
            "select_across": "1",
            ACTION_CHECKBOX_NAME: [Feedback.objects.filter(mitigation=mine).first().pk],
            "apply": "Apply",
            "reply": "",
        },
    )
    assert response.status_code == 302
    assert Feedback.objects.filter(mitigation=mine, resolution="declined").count() == 3
    other.refresh_from_db()
    assert other.resolution == "open"


def test_change_form_goes_through_the_service(editor_client, editor, monkeypatch):
    item = FeedbackFactory()
    calls = []
    real = services.moderate
    monkeypatch.setattr(services, "moderate", lambda *a, **k: calls.append(k) or real(*a, **k))
    url = reverse("admin:feedback_feedback_change", args=[item.pk])
    form = editor_client.get(url)
    assert form.status_code == 200
    response = editor_client.post(
        url,
        {
            "status": "approved",
            "resolution": "addressed",
            "public_reply": "Thanks, done.",
            "comment": "edited by hand?",
        },
    )
    assert response.status_code == 302, response.text[:2000]
    assert calls and calls[0]["status"] == "approved"
    item.refresh_from_db()
    assert (item.status, item.resolution, item.public_reply) == (
        "approved",
        "addressed",
        "Thanks, done.",
    )
    assert item.comment != "edited by hand?"  # the submitter's text is read-only
    assert item.moderated_by == editor
    assert item.history.order_by("-history_id").first().history_user == editor
    history = editor_client.get(reverse("admin:feedback_feedback_history", args=[item.pk]))
    assert history.status_code == 200 and editor.username in history.text


def test_moderate_is_atomic_and_skips_unchanged(editor):
    a, b = FeedbackFactory.create_batch(2, status="approved")
    assert services.moderate([a, b], editor, status="approved") == 0
    assert a.history.count() == 1
    with pytest.raises(ValueError):
        services.moderate([a], editor, status="published")
    assert services.moderate(Feedback.objects.all(), editor, status="rejected") == 2


def test_no_add_and_no_revert(editor_client):
    item = FeedbackFactory()
    assert editor_client.get(reverse("admin:feedback_feedback_add")).status_code == 403
    history = editor_client.get(reverse("admin:feedback_feedback_history", args=[item.pk]))
    assert "Revert" not in history.text


@pytest.mark.parametrize("who", ["reviewer_client", "plain_client", "reader_client"])
def test_only_editors_reach_the_admin(request, who):
    client = request.getfixturevalue(who)
    item = FeedbackFactory()
    for url in (
        CHANGELIST,
        reverse("admin:feedback_feedback_change", args=[item.pk]),
        reverse("admin:feedback_feedback_export"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = act(client, "approve", [item])
    item.refresh_from_db()
    assert item.status == "pending"


def test_staff_without_the_editor_role_cannot_moderate(client):
    staff = UserFactory(username="staff-only")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    verify_session(client, staff)  # staff without a role, second factor passed
    assert client.get(CHANGELIST).status_code == 403


def test_changelist_filters(editor_client):
    cat = CategoryFactory(code="2.2.2")
    page = MitigationFactory(category=cat, code="A1427")
    signed_in = UserFactory()
    wanted = FeedbackFactory(mitigation=page, comment="wanted one", kind="source")
    FeedbackFactory(comment="other page", kind="source")
    FeedbackFactory(mitigation=page, comment="by a user", user=signed_in)
    FeedbackFactory(
        mitigation=page,
        comment="by a reviewer",
        by_reviewer=True,
        user=UserFactory(role="reviewer"),
    )
    cases = {
        "?page=a1427&by=anonymous": {"wanted one"},
        "?category=2.2": {"wanted one", "by a user", "by a reviewer"},
        "?category=2&by=signed_in": {"by a user"},
        "?by=reviewer": {"by a reviewer"},
        "?kind__exact=source&status__exact=pending": {"wanted one", "other page"},
        "?q=A1427&by=anonymous": {"wanted one"},
        "?q=wanted": {"wanted one"},
        f"?created_at__year={wanted.created_at.year}&page=A1427": {
            "wanted one",
            "by a user",
            "by a reviewer",
        },
    }
    all_comments = {"wanted one", "other page", "by a user", "by a reviewer"}
    for query, expected in cases.items():
        html = editor_client.get(CHANGELIST + query).text
        shown = {c for c in all_comments if c in html}
        assert shown == expected, query


def test_pending_first_then_newest(editor_client):
    old_pending = FeedbackFactory(comment="old pending")
    FeedbackFactory(comment="new approved", status="approved")
    FeedbackFactory(comment="new pending")
    html = editor_client.get(CHANGELIST).text
    positions = [html.index(c) for c in ("new pending", "old pending", "new approved")]
    assert positions == sorted(positions)
    assert old_pending.pk in Feedback.objects.queue().values_list("pk", flat=True)


def test_status_counts_are_cached(editor_client, django_assert_max_num_queries):
    FeedbackFactory.create_batch(2)
    FeedbackFactory(status="spam")
    html = editor_client.get(CHANGELIST).text
    assert "Pending <strong>2</strong>" in html and "Spam <strong>1</strong>" in html
    FeedbackFactory()
    assert "Pending <strong>2</strong>" in editor_client.get(CHANGELIST).text  # cached
    cache.delete(STATUS_COUNTS_KEY)
    assert "Pending <strong>3</strong>" in editor_client.get(CHANGELIST).text


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?status__exact=pending&by=anonymous",
        "?q=problem",
        "?created_at__year=THIS_YEAR",
        "?page=T0001&category=9",
    ],
)
def test_changelist_query_count_is_bounded(editor_client, django_assert_max_num_queries, query):
    page = MitigationFactory(code="T0001")
    users = UserFactory.create_batch(5)
    for i in range(60):
        FeedbackFactory(mitigation=page if i % 2 else None, user=users[i % 5] if i % 3 else None)
    editor_client.get(CHANGELIST)  # warm the status counts and the session
    query = query.replace("THIS_YEAR", str(timezone.now().year))
    with django_assert_max_num_queries(6):
        response = editor_client.get(CHANGELIST + query)
    assert response.status_code == 200
    if not query:
        assert len(response.context["cl"].result_list) == 50


def test_changelist_never_counts_the_whole_table(editor_client, django_assert_max_num_queries):
    FeedbackFactory.create_batch(3)
    editor_client.get(CHANGELIST)
    with django_assert_max_num_queries(6) as captured:
        editor_client.get(CHANGELIST)
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts)
    assert not any("DISTINCT" in q["sql"].upper() for q in captured.captured_queries)


def test_change_form_shows_page_and_escaped_diff(editor_client):
    page = MitigationFactory(definition="Train the model to refuse.")
    item = FeedbackFactory(mitigation=page, page_version=page.version)
    page.definition = "Train the model to <script>refuse</script> harmful requests."
    page.name = "Refusal <b>training</b>"
    page.save()
    html = editor_client.get(reverse("admin:feedback_feedback_change", args=[item.pk])).text
    assert page.code in html
    assert "<dt>Definition</dt>" in html and "<dt>Title</dt>" in html
    assert "&lt;script&gt;" in html and "<script>refuse" not in html
    assert "<del>" in html and "<ins>" in html


def test_word_diff_escapes_everything():
    html = word_diff("a <b> c", "a <i> c & d")
    assert "<" not in re.sub(r"</?(del|ins)>", "", html)
    assert "&lt;" in html and "&amp;" in html
    assert word_diff("same", "same") == "same"


def test_csv_export_action_and_filtered_view(editor_client):
    page = MitigationFactory(code="A0001")
    FeedbackFactory(mitigation=page, comment='=HYPERLINK("http://evil")', email="x@example.org")
    FeedbackFactory(comment="elsewhere")
    response = act(editor_client, "export_csv", Feedback.objects.all())
    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert len(rows) == 2
    formula = next(r for r in rows if "HYPERLINK" in r["comment"])
    assert formula["comment"].startswith("'=")
    assert formula["email"] == ""  # no consent, no address
    assert "ip_hash" not in rows[0] and "token" not in rows[0]

    filtered = editor_client.get(reverse("admin:feedback_feedback_export") + "?page=A0001")
    assert filtered["Content-Type"].startswith("text/csv")
    body = b"".join(filtered.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["page_code"] for r in rows] == ["A0001"]


def test_search_by_page_name_email_and_quoted_phrase(editor_client):
    page = MitigationFactory(name="Watermarking outputs", code="W0042")
    FeedbackFactory(mitigation=page, comment="about marks")
    FeedbackFactory(comment="contact me", email="ada@example.org", contact_consent=True)
    FeedbackFactory(comment="the exact phrase here")
    FeedbackFactory(comment="phrase and exact, apart")
    cases = {
        "?q=watermarking": {"about marks"},
        "?q=w0042": {"about marks"},
        "?q=ada%40example": {"contact me"},
        '?q="exact phrase"': {"the exact phrase here"},
        "?q=exact+phrase": {"the exact phrase here", "phrase and exact, apart"},
        '?q="': set(),
    }
    every = {"about marks", "contact me", "the exact phrase here", "phrase and exact, apart"}
    for query, expected in cases.items():
        response = editor_client.get(CHANGELIST + query)
        assert response.status_code == 200
        shown = {c for c in every if c in response.text}
        assert shown == (expected or every), query


def test_moderate_accepts_ids_querysets_and_slices(editor):
    items = FeedbackFactory.create_batch(4)
    assert services.moderate([items[0].pk], editor, status="approved") == 1
    assert services.moderate(Feedback.objects.order_by("pk")[1:3], editor, status="spam") == 2
    assert sorted(Feedback.objects.values_list("status", flat=True)) == [
        "approved",
        "pending",
        "spam",
        "spam",
    ]
