"""The moderation queue built for a large table: the same page as Django's, for less work.

The changelist rows are built in Python (feedback.admin.FeedbackChangeList) and must be the
very HTML that Django's own rows would be; the queue filtered by status is ordered newest
first (the pending-first rank is then the same for every row); the number of queries does
not depend on the number of rows.
"""

import functools

import pytest
from django import forms
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.templatetags.admin_list import admin_list_filter, items_for_result
from django.contrib.admin.views.main import ChangeList
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy

from feedback.admin import ActionSelect, FeedbackAdmin, PageUrls, truncate_chars
from feedback.models import Feedback
from feedback.templatetags.feedback_admin import queue_filters
from tests.factories import CategoryFactory, FeedbackFactory, MitigationFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/feedback/feedback/"


@pytest.fixture
def varied_queue():
    """Feedback of every kind of submitter, status and page, with text that needs escaping."""
    category = CategoryFactory(code="4.1")
    plain = MitigationFactory(category=category, code="A1427", name="Refusal <b>training</b>")
    long_name = MitigationFactory(
        category=category, code="B7", name="A very long page name " * 5 + "& more"
    )
    accented = MitigationFactory(category=category, code="C9", name="Crème brûlée " * 4)
    reviewer = UserFactory(role="reviewer", username="rita<'\">")
    user = UserFactory(username="sam")
    comments = [
        "Short.",
        "x" * 90,
        "y" * 91,
        "A long comment about the definition, " * 6,
        "Cafe\u0301 au lait, " * 12,  # combining accents: not ASCII
        "<script>alert('x')</script> & \"quotes\"\n\n  spread   over   lines",
    ]
    items = []
    for i, comment in enumerate(comments * 3):
        items.append(
            FeedbackFactory(
                mitigation=[plain, long_name, accented, None][i % 4],
                comment=comment,
                status=Feedback.Status.values[i % 4],
                resolution=Feedback.Resolution.values[i % 3],
                kind=Feedback.Kind.values[i % 5],
                section=Feedback.Section.values[i % 7],
                user=[None, user, reviewer][i % 3],
                by_reviewer=i % 3 == 2,
                name=["", "Ann <Reader>", "Bob"][i % 3],
            )
        )
    return items


def django_table(cl):
    return Template("{% load admin_list %}{% result_list cl %}").render(
        Context({"cl": cl, "opts": cl.opts})
    )


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?status__exact=approved",
        "?q=comment&kind__exact=error",
        "?category=4.1&o=3.-8",
        "?page=A1427&by=anonymous",
    ],
)
def test_rows_are_the_html_django_makes(editor_client, varied_queue, query):
    response = editor_client.get(CHANGELIST + query)
    assert response.status_code == 200
    cl = response.context["cl"]
    assert cl.result_list, "the query should show some rows"
    fast = cl.fast_rows()
    assert fast is not None
    stock = ["".join(items_for_result(cl, obj, None)) for obj in cl.result_list]
    assert fast == stock
    assert cl.results_table() == django_table(cl)
    assert cl.results_table() in response.text


def test_rows_keep_the_filters_in_the_change_links(editor_client, varied_queue):
    response = editor_client.get(CHANGELIST + "?status__exact=pending&q=Short")
    assert response.context["cl"].result_list
    assert "/change/?_changelist_filters=status__exact%3Dpending%26q%3DShort" in response.text


def test_unknown_column_falls_back_to_djangos_rows(editor_client, varied_queue, monkeypatch):
    monkeypatch.setattr(FeedbackAdmin, "list_display", [*FeedbackAdmin.list_display, "email"])
    FeedbackFactory(email="someone@example.org")
    response = editor_client.get(CHANGELIST)
    assert response.status_code == 200
    cl = response.context["cl"]
    assert cl.fast_rows() is None
    assert 'class="field-email">someone@example.org</td>' in response.text
    assert response.text.count('class="action-select"') == len(cl.result_list)


def test_page_urls_match_get_absolute_url(varied_queue):
    urls = PageUrls()
    pages = {item.mitigation for item in varied_queue if item.mitigation_id}
    assert len(pages) == 3
    for page in pages:
        assert urls.page_url(page) == page.get_absolute_url()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "short",
        "x" * 89,
        "x" * 90,
        "x" * 91,
        "word " * 40,
        "Cafe\u0301 " * 30,  # combining characters do not count
        "e\u0301" * 90,
        "e\u0301" * 91,
        "ünïcödé text " * 10,
        "emoji 🙂 " * 20,
    ],
)
@pytest.mark.parametrize("length", [1, 2, 40, 90])
def test_truncate_chars_is_truncator(text, length):
    assert truncate_chars(text, length) == Truncator(text).chars(length)


def test_status_filter_orders_newest_first_without_the_rank(editor_client):
    older = FeedbackFactory(comment="older approved", status="approved")
    FeedbackFactory(comment="a pending one")
    newer = FeedbackFactory(comment="newer approved", status="approved")
    with CaptureQueriesContext(connection) as captured:
        response = editor_client.get(CHANGELIST + "?status__exact=approved")
    shown = list(response.context["cl"].result_list)
    assert shown == [newer, older]
    listing = [q["sql"] for q in captured.captured_queries if "ORDER BY" in q["sql"].upper()]
    listing = [sql for sql in listing if '"feedback_feedback"."comment"' in sql]
    assert len(listing) == 1 and "CASE" not in listing[0].upper()
    assert 'ORDER BY "feedback_feedback"."created_at" DESC' in listing[0]

    # Without a status the queue is pending first, ordered by the indexed rank.
    with CaptureQueriesContext(connection) as captured:
        response = editor_client.get(CHANGELIST + "?kind__exact=error")
    assert [f.comment for f in response.context["cl"].result_list][0] == "a pending one"
    listing = [q["sql"] for q in captured.captured_queries if "ORDER BY" in q["sql"].upper()]
    listing = [sql for sql in listing if '"feedback_feedback"."comment"' in sql]
    assert len(listing) == 1 and "CASE" in listing[0].upper()


def test_an_unknown_status_keeps_the_queue_order(rf, editor):
    model_admin = admin.site._registry[Feedback]
    for value, expected in [
        ("approved", ["-created_at", "-id"]),
        ("nonsense", list(Feedback.QUEUE_ORDERING)),
        ("", list(Feedback.QUEUE_ORDERING)),
    ]:
        request = rf.get(CHANGELIST, {"status__exact": value})
        request.user = editor
        assert list(model_admin.get_ordering(request)) == expected


def _queries(client, url):
    client.get(url)  # the session, the status counts and the category list are warm now
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize(
    "query", ["", "?status__exact=approved&kind__exact=error", "?category=4.1", "?q=comment"]
)
def test_query_count_does_not_grow_with_the_rows(editor_client, query):
    category = CategoryFactory(code="4.1")

    def add(n):
        for i in range(n):
            FeedbackFactory(
                mitigation=MitigationFactory(category=category),
                comment=f"a comment {i}",
                user=UserFactory() if i % 2 else None,
                status="approved" if i % 3 else "pending",
            )

    add(3)
    few = _queries(editor_client, CHANGELIST + query)
    add(57)
    many = _queries(editor_client, CHANGELIST + query)
    assert many == few


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"category": "1.2", "status__exact": "pending", "q": "a b&c"},
        {"kind__exact": "error", "due": "overdue", "by": "anonymous", "o": "6", "p": "2"},
        {"section__exact": "definition", "claimed": "me", "category": "3", "page": "A1"},
    ],
)
def test_filters_are_the_html_django_makes(rf, editor, query):
    """Every sidebar filter as Django's admin/filter.html shows it with Django's links,
    though made in Python, its links from one encoded query string per parameter."""
    CategoryFactory(code="1")
    CategoryFactory(code="1.2")
    CategoryFactory(code="3", name="Risks & harms <b>")
    model_admin = admin.site._registry[Feedback]
    request = rf.get(CHANGELIST, query)
    request.user = editor
    cl = model_admin.get_changelist_instance(request)
    stock_cl = model_admin.get_changelist_instance(request)
    stock_cl.get_query_string = functools.partial(ChangeList.get_query_string, stock_cl)
    assert len(cl.filter_specs) == 10
    fast = queue_filters(cl)
    assert fast == "".join(admin_list_filter(stock_cl, spec) for spec in stock_cl.filter_specs)
    assert ">3 Risks &amp; harms &lt;b&gt;</a>" in fast
    if "q" in query:
        assert '<a href="?category=3&amp;q=a+b%26c&amp;status__exact=pending">' in fast


def test_the_queue_shows_its_filters(editor_client):
    FeedbackFactory()
    response = editor_client.get(CHANGELIST + "?status__exact=pending")
    cl = response.context["cl"]
    assert queue_filters(cl) in response.text
    assert ">&#10006; Clear all filters</a>" in response.text


def test_status_kind_index_is_in_the_model():
    names = {index.name for index in Feedback._meta.indexes}
    assert "fb_status_kind_created" in names


def test_select_across_the_category_filter_moderates_only_its_rows(editor_client):
    inside = MitigationFactory(category=CategoryFactory(code="4.1.1"))
    outside = MitigationFactory(category=CategoryFactory(code="5.1"))
    chosen = FeedbackFactory.create_batch(3, mitigation=inside)
    others = [FeedbackFactory(mitigation=outside), FeedbackFactory(mitigation=None)]
    response = editor_client.post(
        CHANGELIST + "?category=4.1",
        {
            "action": "approve",
            "index": 0,
            "select_across": 1,
            ACTION_CHECKBOX_NAME: [chosen[0].pk],
        },
    )
    assert response.status_code == 302
    assert {f.status for f in Feedback.objects.filter(pk__in=[f.pk for f in chosen])} == {
        "approved"
    }
    assert {f.status for f in Feedback.objects.filter(pk__in=[f.pk for f in others])} == {"pending"}


def test_category_filter_with_an_unknown_code_shows_nothing(editor_client, varied_queue):
    response = editor_client.get(CHANGELIST + "?category=8.8.8")
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    shown = editor_client.get(CHANGELIST + "?category=4.1").context["cl"].result_list
    assert {f.pk for f in shown} == {f.pk for f in varied_queue if f.mitigation_id}


@pytest.mark.parametrize("value", [None, "approve", "mark_spam", "<nope>"])
def test_the_action_menu_is_the_html_django_makes(value):
    choices = [
        ("", gettext_lazy("Select <an> option")),
        ("approve", 'Approve <selected> & "more"'),
        ("mark_spam", "Spam"),
    ]
    attrs = {"class": "x<y", "required": True, "disabled": False, "data-n": 3}
    fast = ActionSelect(attrs=attrs, choices=choices)
    stock = forms.Select(attrs=attrs, choices=choices)
    assert fast.render("action", value, {"id": "a1"}) == stock.render("action", value, {"id": "a1"})
    grouped = [("Group", [("a", "A")]), ("b", "B")]
    assert ActionSelect(choices=grouped).render("action", "a") == forms.Select(
        choices=grouped
    ).render("action", "a")


def test_the_queue_renders_the_action_menu_as_django(editor_client):
    FeedbackFactory()
    response = editor_client.get(CHANGELIST)
    form = response.context["action_form"]
    assert isinstance(form.fields["action"].widget, ActionSelect)
    stock = forms.Select(choices=form.fields["action"].choices)
    assert stock.render("action", None, {"required": True}) in response.text
