"""The feedback section of a mitigation page: the reviewers' thread per role, the account."""

import pytest
from django.test import RequestFactory
from django.urls import reverse

from feedback.page_context import feedback_context
from portal.lib import access
from tests.conftest import as_verified
from tests.factories import FeedbackFactory, MitigationFactory, UserFactory

pytestmark = pytest.mark.django_db

SEES_THREAD = {"reader": False, "plain": False, "reviewer": True, "editor": True}


@pytest.fixture
def discussion(mitigation):
    reviewer = UserFactory(username="vera-reviewer", role="reviewer")
    return {
        "approved_reviewer": FeedbackFactory(
            mitigation=mitigation,
            user=reviewer,
            by_reviewer=True,
            status="approved",
            comment="APPROVED-REVIEWER-TEXT",
            public_reply="EDITORS-PUBLIC-REPLY",
        ),
        "pending_reviewer": FeedbackFactory(
            mitigation=mitigation,
            user=reviewer,
            by_reviewer=True,
            comment="PENDING-TEXT",
        ),
        "rejected_reviewer": FeedbackFactory(
            mitigation=mitigation,
            user=reviewer,
            by_reviewer=True,
            status="rejected",
            comment="REJECTED-TEXT",
        ),
        "approved_reader": FeedbackFactory(
            mitigation=mitigation,
            status="approved",
            comment="APPROVED-READER-TEXT",
        ),
        "other_page": FeedbackFactory(
            mitigation=MitigationFactory(),
            user=reviewer,
            by_reviewer=True,
            status="approved",
            comment="OTHER-PAGE-TEXT",
        ),
    }


def test_thread_visibility_per_role(role_client, mitigation, discussion):
    role, client = role_client
    html = client.get(mitigation.get_absolute_url()).text
    assert 'id="feedback"' in html
    section = html[html.index('<section id="feedback"') :]
    for hidden in ("REJECTED-TEXT", "APPROVED-READER-TEXT", "OTHER-PAGE-TEXT"):
        assert hidden not in html
    if SEES_THREAD[role]:
        assert "Reviewers' discussion" in section
        # Reviewers' posts show at once, before an editor has read them.
        assert "PENDING-TEXT" in section
        assert "APPROVED-REVIEWER-TEXT" in section and "EDITORS-PUBLIC-REPLY" in section
        assert "vera-reviewer" in section
    else:
        assert "APPROVED-REVIEWER-TEXT" not in html and "EDITORS-PUBLIC-REPLY" not in html
        assert "PENDING-TEXT" not in html
        assert "discussion" not in section.lower() and "vera-reviewer" not in html
        assert "thread-item" not in html


def test_thread_for_asks_the_policy(reviewer, plain_user, mitigation, discussion):
    from feedback.models import Feedback

    assert list(Feedback.objects.thread_for(plain_user)) == []
    assert list(Feedback.objects.thread_for(reviewer)) == []  # no second factor: role-less
    seen = set(Feedback.objects.thread_for(as_verified(reviewer)).on_page(mitigation))
    assert seen == {discussion["approved_reviewer"], discussion["pending_reviewer"]}


@pytest.mark.parametrize("role", ["reader", "reviewer"])
def test_feedback_context_is_cheap(request, role, mitigation, django_assert_max_num_queries):
    user = request.getfixturevalue("reviewer") if role == "reviewer" else None
    for _ in range(30):
        FeedbackFactory(mitigation=mitigation, by_reviewer=True, status="approved", user=user)
    http = RequestFactory().get(mitigation.get_absolute_url())
    from django.contrib.auth.models import AnonymousUser

    http.user = as_verified(user) if user else AnonymousUser()
    access.role_of(http.user)  # permissions are loaded once per request anyway
    # the page version, the thread and its replies (two queries, whatever its length)
    with django_assert_max_num_queries(3):
        context = feedback_context(http, mitigation)
        for item in context["feedback_thread"]:
            str(item.submitter)
            str(item.proposed_category)
    assert len(context["feedback_thread"]) == (30 if user else 0)


def test_detail_page_query_count_does_not_grow_with_the_thread(
    reviewer_client, mitigation, django_assert_max_num_queries, reviewer, settings
):
    settings.PAGE_CACHE_SECONDS = 0  # measure renderings, not cache hits
    FeedbackFactory(mitigation=mitigation, user=reviewer, by_reviewer=True, status="approved")
    reviewer_client.get(mitigation.get_absolute_url())
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as one:
        reviewer_client.get(mitigation.get_absolute_url())
    rendering = len(one)  # now: the next request clears the query log
    for _ in range(20):
        FeedbackFactory(
            mitigation=mitigation, user=UserFactory(), by_reviewer=True, status="approved"
        )
    reviewer_client.get(mitigation.get_absolute_url())  # new users: the signed-in user reloads
    with django_assert_max_num_queries(rendering):
        reviewer_client.get(mitigation.get_absolute_url())


def test_account_lists_own_feedback_with_status(reviewer_client, reviewer, mitigation):
    mine = FeedbackFactory(
        mitigation=mitigation,
        user=reviewer,
        status="approved",
        resolution="addressed",
        public_reply="Done.",
    )
    spam = FeedbackFactory(mitigation=mitigation, user=reviewer, status="spam")
    theirs = FeedbackFactory(mitigation=mitigation, comment="NOT-MINE")
    draft = MitigationFactory(status="draft", name="Hidden draft name")
    FeedbackFactory(mitigation=draft, user=reviewer)
    html = reviewer_client.get(reverse("account")).text
    assert mine.get_absolute_url() in html and spam.get_absolute_url() in html
    assert theirs.get_absolute_url() not in html
    assert "Approved" in html and "Addressed" in html and "Done." in html
    assert "Spam" not in html
    assert "Hidden draft name" not in html
    assert mitigation.name in html


def test_cached_anonymous_page_never_carries_the_thread(
    reader_client, reviewer_client, mitigation, discussion
):
    assert "APPROVED-REVIEWER-TEXT" in reviewer_client.get(mitigation.get_absolute_url()).text
    for _ in range(2):  # rendered for the cache, then served from it
        html = reader_client.get(mitigation.get_absolute_url()).text
        assert "APPROVED-REVIEWER-TEXT" not in html and "thread-item" not in html
    assert "APPROVED-REVIEWER-TEXT" in reviewer_client.get(mitigation.get_absolute_url()).text
