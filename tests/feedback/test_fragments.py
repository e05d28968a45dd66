"""Parts of a mitigation page that the feedback app builds in Python render what the
templates they replaced rendered, byte for byte: the history box and the feedback section
(their templates kept in tests/feedback/data/templates/ as the reference), the reviewers'
thread and the feedback form (their templates still serve the reply and feedback pages)."""

import datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import engines
from django.test import override_settings
from django.utils import timezone

from feedback import fragments
from feedback.changelog import Change
from feedback.citations import citation
from feedback.forms import ThreadReplyForm
from feedback.fragments import thread_items
from feedback.models import Reply
from feedback.page_context import feedback_context, page_form, thread
from feedback.templatetags.feedback_tags import page_review_html
from tests.factories import CategoryFactory, FeedbackFactory, MitigationFactory, UserFactory

REFERENCE = Path(__file__).parent / "data" / "templates"
NASTY = '<b>Tom & Jerry\'s "quoted"</b> {{ x }} %'


def reference(name, context):
    return engines["django"].from_string((REFERENCE / name).read_text()).render(context)


def changes():
    late = datetime.datetime(2026, 12, 31, 23, 30, tzinfo=datetime.UTC)  # another day in Berlin
    return [
        Change(number=3, date=late, record=30, mitigation_id=1, slug="a-page", what=[NASTY],
               answered=[NASTY]),
        Change(number=2, date=late - datetime.timedelta(days=40), record=20, mitigation_id=1,
               slug="a-page"),
        Change(number=1, date=late - datetime.timedelta(days=90), record=10, mitigation_id=1,
               slug="a-page", what=["First version"]),
    ]  # fmt: skip


def cite(status):
    return citation(
        title=NASTY,
        code="T0001",
        status=status,
        number=3,
        date=changes()[0].date,
        url="http://testserver/mitigations/a-page/v/3/?a=1&b=<2>",
        today=datetime.date(2027, 1, 2),
    )


@pytest.mark.parametrize("time_zone", ["UTC", "Europe/Berlin"])
@pytest.mark.parametrize(
    "shown",
    [
        lambda: (changes(), cite("polishing")),
        lambda: (changes()[:1], cite("published")),
        lambda: ([], cite("published")),
        lambda: (changes(), None),
        lambda: ([], None),
    ],
)
def test_the_history_and_citation_are_the_template(shown, time_zone):
    with override_settings(TIME_ZONE=time_zone), timezone.override(time_zone):
        listed, cited = shown()
        url = "/mitigations/a-page/changes/?x=<&>"
        context = {"changes": listed, "changes_url": url, "citation": cited}
        assert page_review_html(listed, url, cited) == reference("page_review.html", context)


@pytest.fixture
def thread_page(db, reviewer):
    page = MitigationFactory(code="TH1")
    other = UserFactory(username="tom", first_name=NASTY, role="reviewer")
    category = CategoryFactory(code="9.8", name=NASTY)
    first = FeedbackFactory(
        mitigation=page, user=other, by_reviewer=True, status="approved", section="definition",
        kind="error", comment=f"{NASTY}\nsecond line\r\nthird", public_reply=f"{NASTY}\nok",
        resolution="addressed", proposed_category=category,
    )  # fmt: skip
    FeedbackFactory(mitigation=page, user=reviewer, by_reviewer=True, status="pending")
    FeedbackFactory(mitigation=page, user=other, by_reviewer=True, status="approved",
                    resolution="declined")  # fmt: skip
    FeedbackFactory(mitigation=page, user=None, name=NASTY, by_reviewer=True, status="approved")
    Reply.objects.create(feedback=first, user=reviewer, comment=f"{NASTY}\nmine")
    Reply.objects.create(feedback=first, user=other, comment="theirs")
    Reply.objects.create(feedback=first, user=None, comment="gone")
    Reply.objects.create(feedback=first, user=other, comment="hidden", hidden=True)
    return page


@pytest.mark.parametrize("time_zone", ["UTC", "Pacific/Kiritimati"])
@pytest.mark.parametrize("with_form", [True, False])
def test_the_thread_is_the_template(thread_page, reviewer, time_zone, with_form):
    reviewer.is_verified = lambda: True  # a session that passed the second factor
    with override_settings(TIME_ZONE=time_zone), timezone.override(time_zone):
        items = thread(reviewer, thread_page)
        assert len(items) == 4 and [len(i.shown_replies) for i in items] == [3, 0, 0, 0]
        form = ThreadReplyForm() if with_form else None
        template = engines["django"].get_template("feedback/includes/thread_item.html")
        expected = "".join(
            template.render({"item": item, "feedback_viewer_id": reviewer.pk,
                             "reply_form": form, "mitigation": thread_page,
                             "csrf_token": "TOKEN"})
            for item in items
        )  # fmt: skip
        assert expected.count('<span class="badge text-bg-secondary">you</span>') == 2
        made = thread_items(items, code=thread_page.code, viewer_id=reviewer.pk,
                            reply_form=form, csrf_token="TOKEN")  # fmt: skip
        assert made == expected


@pytest.mark.parametrize("who", ["reader", "reviewer", "reviewer-empty"])
@pytest.mark.parametrize(
    "query", ["", "?helpful=yes", "?helpful=no", "?part=definition&kind=error"]
)
@pytest.mark.parametrize("token", ["TOKEN", None])
def test_the_feedback_section_is_the_template(thread_page, reviewer, rf, who, query, token):
    page = thread_page if who != "reviewer-empty" else MitigationFactory(code="TH2")
    request = rf.get(page.get_absolute_url() + query)
    request.user = AnonymousUser()
    if who != "reader":
        reviewer.is_verified = lambda: True
        request.user = reviewer
    context = feedback_context(request, page)
    expected = reference(
        "page_section.html",
        {**context, "mitigation": page, "csrf_token": token, "request": request},
    )
    assert fragments.page_section(context, code=page.code, csrf_token=token) == expected
    assert ("Reviewers' discussion" in expected) == (who != "reader")


def test_a_form_with_errors_is_the_template(thread_page, rf):
    request = rf.post(thread_page.get_absolute_url(), {"comment": ""})
    request.user = AnonymousUser()
    form = page_form(request, thread_page, data=request.POST)
    assert not form.is_valid()
    template = engines["django"].get_template("feedback/includes/form.html")
    expected = template.render({"form": form, "action": "/x/?a=<b>", "csrf_token": "TOKEN"})
    assert fragments.feedback_form(form, "/x/?a=<b>", "TOKEN") == expected
    assert "Your feedback was not sent yet" in expected
