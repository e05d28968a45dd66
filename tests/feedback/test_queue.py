"""The editors' queue: presets, row decisions, claims, due dates, duplicates, outdated items."""

import datetime
import re

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from feedback import services
from feedback.admin import STATUS_COUNTS_KEY, columns
from feedback.models import Feedback
from tests.conftest import verify_session
from tests.factories import CategoryFactory, FeedbackFactory, MitigationFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/feedback/feedback/"
DECIDE = CHANGELIST + "decide/"


def decide(client, item, decision, version=None, **extra):
    item.refresh_from_db()
    if version is None:
        version = columns.version_of(item)
    return client.post(
        DECIDE,
        {
            "decide": f"{item.pk}:{decision}:{version}",
            "next": CHANGELIST + "?status__exact=pending",
            **extra,
        },
    )


def messages_of(response):
    return [str(m) for m in response.wsgi_request._messages]


def age(item, **delta):
    Feedback.objects.filter(pk=item.pk).update(
        created_at=timezone.now() - datetime.timedelta(**delta)
    )


# --- presets --------------------------------------------------------------------------------


def test_presets_count_and_link_the_filters(editor_client, editor):
    pending = FeedbackFactory.create_batch(3)
    FeedbackFactory.create_batch(2, status="approved", resolution="open")
    FeedbackFactory(status="approved", resolution="addressed")
    FeedbackFactory(status="spam")
    services.claim(pending[:1], editor, to=editor)
    age(pending[1], days=8)
    html = editor_client.get(CHANGELIST).text
    found = dict(
        re.findall(r'<a href="[^"]*" class="feedback-count[^"]*"[^>]*>([^<]+) <strong>(\d+)', html)
    )
    assert found == {
        "Pending": "3",
        "Needs a resolution": "2",
        "Mine": "1",
        "Overdue": "1",
        "Spam": "1",
    }
    assert (
        'href="/admin/feedback/feedback/?status__exact=approved&amp;resolution__exact=open"' in html
    )
    for query, expected in [
        ("?status__exact=approved&resolution__exact=open", 2),
        ("?claimed=me", 1),
        ("?due=overdue", 1),
        ("?status__exact=spam", 1),
    ]:
        response = editor_client.get(CHANGELIST + query)
        assert response.status_code == 200
        assert len(response.context["cl"].result_list) == expected, query
        assert 'aria-current="page"' in response.text


@pytest.mark.parametrize("query", ["", "?status__exact=pending", "?claimed=me"])
def test_the_counts_are_read_in_one_cache_round_trip(editor_client, monkeypatch, query):
    """The presets' counts and the editor's claims, then the paginator: one read."""
    FeedbackFactory.create_batch(2)
    editor_client.get(CHANGELIST + query)  # counted and cached
    reads, depth = [], []

    def recording(name):
        read = getattr(cache, name)

        def record(keys, *args, **kwargs):
            if not depth:  # not the backend's get_many asking its own get
                reads.append((name, keys))
            depth.append(name)
            try:
                return read(keys, *args, **kwargs)
            finally:
                depth.pop()

        return record

    for name in ("get", "get_many"):
        monkeypatch.setattr(cache, name, recording(name))
    response = editor_client.get(CHANGELIST + query)
    assert "Pending <strong>2</strong>" in response.text
    assert [r for r in reads if "status-counts" in str(r[1])] == [
        (
            "get_many",
            [STATUS_COUNTS_KEY, f"{STATUS_COUNTS_KEY}:mine:{response.wsgi_request.user.pk}"],
        )
    ]


def test_mine_is_only_my_open_claims(editor_client, editor):
    other = UserFactory(role="editor")
    mine = FeedbackFactory()
    theirs = FeedbackFactory()
    done = FeedbackFactory(status="approved", resolution="addressed")
    services.claim([mine, done], editor, to=editor)
    services.claim([theirs], other, to=other)
    shown = editor_client.get(CHANGELIST + "?claimed=me").context["cl"].result_list
    assert [f.pk for f in shown] == [mine.pk]


def test_overdue_follows_the_due_days_setting(editor_client, settings):
    item = FeedbackFactory()
    age(item, days=3)
    assert not editor_client.get(CHANGELIST + "?due=overdue").context["cl"].result_list
    settings.FEEDBACK_DUE_DAYS = 2
    response = editor_client.get(CHANGELIST + "?due=overdue")
    assert [f.pk for f in response.context["cl"].result_list] == [item.pk]
    assert 'class="fb-age fb-overdue"' in response.text
    assert "(overdue)" in response.text


def test_resolved_items_are_never_overdue(editor_client):
    item = FeedbackFactory(status="approved", resolution="addressed")
    age(item, days=30)
    response = editor_client.get(CHANGELIST)
    assert "fb-overdue" not in response.text
    assert not editor_client.get(CHANGELIST + "?due=overdue").context["cl"].result_list


def test_queue_columns_and_no_date_hierarchy(editor_client):
    category = CategoryFactory(code="2.1.3", name="Policies & Procedures")
    item = FeedbackFactory(
        comment="Line one\nline two <b>bold</b>",
        kind="classification",
        proposed_category=category,
        section="reasoning",
    )
    age(item, hours=3)
    html = editor_client.get(CHANGELIST).text
    assert f'id="fb-comment-{item.pk}">Line one\nline two &lt;b&gt;bold&lt;/b&gt;</div>' in html
    assert "Reasoning and classification" in html
    assert "→ 2.1.3" in html
    assert ">3 h</span>" in html
    assert '<span class="fb-badge fb-status-pending">Pending</span>' in html
    assert '<span class="fb-badge fb-res-open">Open</span>' in html
    assert "date_hierarchy" not in html and "created_at__day" not in html
    assert 'aria-live="polite"' in html
    assert "js/feedback_admin" in html
    assert "<script>" not in html.replace("<script src", "")


def test_category_filter_is_a_short_tree(editor_client):
    for code in ["1", "1.1", "1.1.1", "1.1.2", "1.2", "1.2.1", "2", "2.1", "2.1.1"]:
        CategoryFactory(code=code)
    html = editor_client.get(CHANGELIST).text
    assert "?category=1.1&amp;" in html or '?category=1.1"' in html
    assert "category=1.1.1" not in html and "category=2.1.1" not in html
    html = editor_client.get(CHANGELIST + "?category=1.1").text
    assert "category=1.1.1" in html and "category=1.1.2" in html
    assert "category=1.2.1" not in html and "category=2.1.1" not in html


# --- row decisions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "status", "said"),
    [
        ("approve", "approved", "approved"),
        ("reject", "rejected", "rejected"),
        ("spam", "spam", "marked as spam"),
    ],
)
def test_row_decision_goes_through_the_service_with_history(
    editor_client, editor, decision, status, said
):
    item = FeedbackFactory()
    response = decide(editor_client, item, decision)
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST + "?status__exact=pending"
    item.refresh_from_db()
    assert item.status == status
    assert item.moderated_by == editor
    assert item.history.latest().history_user == editor
    assert messages_of(response) == [f"Feedback #{item.pk} {said}."]


def test_row_resolve_with_reply_mails_through_the_service(editor_client, editor, mailoutbox):
    item = FeedbackFactory(status="approved", email="ann@example.org", contact_consent=True)
    response = decide(editor_client, item, "addressed", **{f"reply-{item.pk}": "Fixed, thanks."})
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.resolution, item.public_reply) == ("addressed", "Fixed, thanks.")
    assert item.history.latest().history_user == editor


def test_row_buttons_post_with_csrf(editor):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    verify_session(client, editor)
    item = FeedbackFactory()
    html = client.get(CHANGELIST).text
    assert '<form id="fb-decide" method="post" action="/admin/feedback/feedback/decide/">' in html
    assert 'name="csrfmiddlewaretoken"' in html.split('id="fb-decide"')[1].split("</form>")[0]
    assert 'form="fb-decide" name="decide"' in html and f'value="{item.pk}:approve:' in html
    response = client.post(DECIDE, {"decide": f"{item.pk}:approve:"})
    assert response.status_code == 403
    item.refresh_from_db()
    assert item.status == "pending"


def test_stale_row_decision_changes_nothing(editor_client, editor):
    other = UserFactory(username="ed1", role="editor")
    item = FeedbackFactory()
    item.refresh_from_db()
    seen = columns.version_of(item)
    services.moderate([item], other, status="rejected")
    response = decide(editor_client, item, "approve", version=seen)
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == "rejected" and item.moderated_by == other
    [message] = messages_of(response)
    assert "changed by ed1" in message and "nothing was changed" in message


@pytest.mark.parametrize(
    "value",
    [
        "",
        "abc",
        "1",
        "x:approve:",
        "{pk}:delete:",
        "{pk}:approve:not-a-date",
        "{pk}:approve:2026-01-01T00:00:00",
        "999999:approve:",
    ],
)
def test_bad_row_decisions_never_fail(editor_client, value):
    item = FeedbackFactory()
    response = editor_client.post(
        DECIDE, {"decide": value.format(pk=item.pk), "next": "https://evil.example/"}
    )
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    item.refresh_from_db()
    assert item.status == "pending"


def test_decide_is_for_editors_and_post_only(client, reviewer_client, editor_client):
    item = FeedbackFactory()
    assert editor_client.get(DECIDE).status_code == 405
    for other in (client, reviewer_client):
        response = other.post(DECIDE, {"decide": f"{item.pk}:approve:"})
        assert response.status_code in (302, 403)
        assert "/login/" in response.get("Location", "/login/")
    item.refresh_from_db()
    assert item.status == "pending"


# --- claims --------------------------------------------------------------------------------


def test_claim_and_release_a_row(editor_client, editor):
    item = FeedbackFactory()
    decide(editor_client, item, "claim")
    item.refresh_from_db()
    assert item.claimed_by == editor and item.claimed_at is not None
    assert item.history.latest().history_user == editor
    html = editor_client.get(CHANGELIST).text
    assert f"claimed by {editor.username} 1 min ago" in html
    decide(editor_client, item, "release")
    item.refresh_from_db()
    assert item.claimed_by is None


def test_claim_action(editor_client, editor):
    items = FeedbackFactory.create_batch(2)
    editor_client.post(
        CHANGELIST, {"action": "claim", "index": 0, ACTION_CHECKBOX_NAME: [i.pk for i in items]}
    )
    assert set(Feedback.objects.values_list("claimed_by", flat=True)) == {editor.pk}


# --- merging duplicates --------------------------------------------------------------------


def merge(client, items, into):
    return client.post(
        CHANGELIST,
        {
            "action": "merge",
            "index": 0,
            "apply": "1",
            "into": into,
            ACTION_CHECKBOX_NAME: [i.pk for i in items],
        },
    )


def test_merge_then_answer_once_reaches_every_submitter(editor_client, editor, client):
    primary = FeedbackFactory(comment="The primary report")
    dups = FeedbackFactory.create_batch(2, comment="Same problem")
    response = merge(editor_client, dups, primary.pk)
    assert response.status_code == 302
    for dup in dups:
        dup.refresh_from_db()
        assert dup.duplicate_of == primary and dup.status == "approved"
        assert dup.history.latest().history_user == editor
    services.moderate([primary], editor, resolution="addressed", reply="Rewritten the definition.")
    for dup in dups:
        dup.refresh_from_db()
        assert (dup.resolution, dup.public_reply) == ("addressed", "Rewritten the definition.")
        page = client.get(dup.get_absolute_url()).text
        assert "Rewritten the definition." in page
        assert "The primary report" not in page


def test_merging_into_a_restricted_item_shows_the_public_answer_only(editor_client, editor, client):
    reviewer = UserFactory(role="reviewer")
    secret = FeedbackFactory(
        comment="Preliminary figure 0.83 disagrees with table 3",
        section="figures",
        user=reviewer,
        by_reviewer=True,
        status="approved",
    )
    reader = FeedbackFactory(comment="The numbers look odd", user=None)
    merge(editor_client, [reader], secret.pk)
    services.moderate([secret], editor, resolution="addressed", reply="Checked and corrected.")
    page = client.get(reader.get_absolute_url()).text
    assert "Checked and corrected." in page
    assert "0.83" not in page and "table 3" not in page


@pytest.mark.parametrize("target", ["itself", "spam", "missing", "text"])
def test_merge_into_itself_spam_or_nothing_is_a_form_error(editor_client, target):
    items = FeedbackFactory.create_batch(2)
    spam = FeedbackFactory(status="spam")
    into = {"itself": items[0].pk, "spam": spam.pk, "missing": 999999, "text": "abc"}[target]
    response = merge(editor_client, items, into)
    assert response.status_code == 200
    assert response.context["form"].errors
    assert 'class="errorlist' in response.text
    assert not Feedback.objects.filter(duplicate_of__isnull=False).exists()


def test_merge_into_a_duplicate_uses_its_primary(editor, editor_client):
    primary = FeedbackFactory()
    first = FeedbackFactory()
    services.merge([first], primary, editor)
    late = FeedbackFactory()
    merge(editor_client, [late], first.pk)
    late.refresh_from_db()
    assert late.duplicate_of == primary


def test_merge_service_refuses_itself_and_spam(editor):
    item = FeedbackFactory()
    with pytest.raises(services.MergeError):
        services.merge([item], item, editor)
    with pytest.raises(services.MergeError):
        services.merge([item], FeedbackFactory(status="spam"), editor)


# --- possibly outdated ---------------------------------------------------------------------


def test_outdated_items_are_marked_and_filtered(editor_client):
    page = MitigationFactory(definition="Old definition.", reasoning="Old reasoning.")
    version = page.history.latest().history_id
    about_definition = FeedbackFactory(mitigation=page, page_version=version, section="definition")
    about_reasoning = FeedbackFactory(mitigation=page, page_version=version, section="reasoning")
    no_version = FeedbackFactory(mitigation=page, section="definition")
    page.definition = "New definition."
    page.save()
    response = editor_client.get(CHANGELIST + "?outdated=yes")
    assert [f.pk for f in response.context["cl"].result_list] == [about_definition.pk]
    html = editor_client.get(CHANGELIST).text
    row = html.split(f'id="fb-comment-{about_definition.pk}"')[1].split("</tr>")[0]
    assert "page changed since" in row
    for other in (about_reasoning, no_version):
        row = html.split(f'id="fb-comment-{other.pk}"')[1].split("</tr>")[0]
        assert "page changed since" not in row


def test_long_lists_are_not_counted_again(
    editor_client, monkeypatch, django_assert_max_num_queries
):
    """Past the cap the changelist's count is the cap + 1: when the cached queue counts say
    a preset is that long, the list is not counted again; shorter lists are counted."""
    from feedback.admin import feedback_admin

    monkeypatch.setattr(feedback_admin, "COUNT_CAP", 3)
    monkeypatch.setattr(feedback_admin.CappedCountPaginator, "cap", 3)
    FeedbackFactory.create_batch(5)
    FeedbackFactory.create_batch(2, status="spam")
    editor_client.get(CHANGELIST)  # the counts cached
    for query, counted in [
        ("", False),
        ("?status__exact=pending", False),
        ("?status__exact=spam", True),
        ("?status__exact=pending&kind__exact=error", True),
        ("?status__exact=pending&q=x", True),
    ]:
        with django_assert_max_num_queries(9) as captured:
            response = editor_client.get(CHANGELIST + query)
        counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
        assert bool(counts) == counted, query
        if not counted:
            assert response.context["cl"].result_count == 4, query


def test_a_list_counted_empty_is_not_fetched(editor_client):
    FeedbackFactory()
    editor_client.get(CHANGELIST + "?claimed=me")  # the counts cached
    with CaptureQueriesContext(connection) as captured:
        response = editor_client.get(CHANGELIST + "?claimed=me")
    assert response.context["cl"].result_count == 0
    assert "\n0 feedback\n" in response.text
    on_feedback = [q["sql"] for q in captured if '"feedback_feedback"' in q["sql"]]
    assert len(on_feedback) == 1 and "COUNT(" in on_feedback[0]  # counted, not fetched


def _counts_queries(client):
    """The queue page as `client`, with the number of its queries that count the table."""
    with CaptureQueriesContext(connection) as ctx:
        html = client.get(CHANGELIST).text
    return html, sum('COUNT("feedback_feedback"."id") FILTER' in q["sql"] for q in ctx)


def test_a_decision_makes_the_counts_stale_and_the_next_page_counts_again(editor_client, editor):
    items = FeedbackFactory.create_batch(3)
    cache.delete(STATUS_COUNTS_KEY)
    html, counted = _counts_queries(editor_client)
    assert "Pending <strong>3</strong>" in html and counted == 1
    html, counted = _counts_queries(editor_client)
    assert "Pending <strong>3</strong>" in html and counted == 0  # fresh: from the cache
    decide(editor_client, items[0], "approve")
    html, counted = _counts_queries(editor_client)
    assert "Pending <strong>2</strong>" in html and counted == 1


def test_stale_counts_are_counted_by_one_request_while_others_show_them(editor_client):
    FeedbackFactory.create_batch(2)
    cache.delete(STATUS_COUNTS_KEY)
    _counts_queries(editor_client)
    FeedbackFactory()  # not counted yet
    fresh_until, counts = cache.get(STATUS_COUNTS_KEY)
    cache.set(STATUS_COUNTS_KEY, (0, counts), 600)  # its time ran out
    cache.set(f"{STATUS_COUNTS_KEY}:recounting", 1, 60)  # another request is counting
    html, counted = _counts_queries(editor_client)
    assert "Pending <strong>2</strong>" in html and counted == 0  # the stale counts, no count
    cache.delete(f"{STATUS_COUNTS_KEY}:recounting")  # that request finished without storing
    html, counted = _counts_queries(editor_client)
    assert "Pending <strong>3</strong>" in html and counted == 1
    assert cache.get(f"{STATUS_COUNTS_KEY}:recounting") is None  # the lock is given back
