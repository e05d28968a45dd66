"""Parts of a mitigation page that feedback_tags builds in Python render what the templates
they replaced rendered, byte for byte (the templates are kept in tests/feedback/data/templates/
as the reference)."""

import datetime
from pathlib import Path

import pytest
from django.template import engines
from django.test import override_settings
from django.utils import timezone

from feedback.changelog import Change
from feedback.citations import citation
from feedback.templatetags.feedback_tags import page_review_html

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
