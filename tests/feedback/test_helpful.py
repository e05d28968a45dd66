"""'Was this page helpful?': one click, counted once a visitor a page a day, rate-limited."""

import datetime
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from feedback import helpful
from feedback.models import PageHelpfulness
from mitigations.models import Mitigation
from tests.factories import MitigationFactory
from tests.feedback.conftest import fill

pytestmark = pytest.mark.django_db

TOKEN = re.compile(r'<input type="hidden" name="token" value="([^"]+)">')


def token_on(client, mitigation):
    html = client.get(mitigation.get_absolute_url()).text
    return TOKEN.search(html).group(1)


def answer(client, mitigation, value, token=None, **extra):
    token = token if token is not None else token_on(client, mitigation)
    url = reverse("feedback:helpful", args=[mitigation.code])
    return client.post(url, {"answer": value, "token": token}, **extra)


def counts(mitigation):
    found = PageHelpfulness.objects.filter(mitigation=mitigation).first()
    return (found.yes, found.no) if found else (0, 0)


def test_yes_is_counted_and_thanked(reader_client, mitigation):
    response = answer(reader_client, mitigation, "yes")
    assert response.status_code == 302
    assert response["Location"] == f"{mitigation.get_absolute_url()}?helpful=yes#helpful"
    assert counts(mitigation) == (1, 0)
    html = reader_client.get(response["Location"]).text
    assert "Glad this page helped" in html and 'name="answer"' not in html


def test_no_opens_the_form(reader_client, mitigation):
    response = answer(reader_client, mitigation, "no")
    assert response["Location"] == f"{mitigation.get_absolute_url()}?helpful=no#feedback"
    assert counts(mitigation) == (0, 1)
    html = reader_client.get(response["Location"]).text
    assert "What was missing or wrong?" in html and 'class="feedback-form"' in html


def test_once_a_visitor_a_page_a_day(reader_client, mitigation):
    for value in ("yes", "yes", "no"):
        assert answer(reader_client, mitigation, value).status_code == 302
    assert counts(mitigation) == (1, 0)
    other = Client(REMOTE_ADDR="198.51.100.7")
    answer(other, mitigation, "no", token=token_on(reader_client, mitigation))
    assert counts(mitigation) == (1, 1)
    # Another page is another count.
    second = MitigationFactory()
    answer(reader_client, second, "yes")
    assert counts(second) == (1, 0)


def test_the_next_day_counts_again(rf, mitigation):
    request = rf.post("/")
    request.user = type("Anon", (), {"is_authenticated": False})()
    now = timezone.now()
    assert helpful.record_answer(request, mitigation, "yes", now=now)
    assert not helpful.record_answer(request, mitigation, "yes", now=now)
    assert helpful.record_answer(request, mitigation, "yes", now=now + datetime.timedelta(days=1))
    assert counts(mitigation) == (2, 0)


def test_no_address_is_stored(reader_client, mitigation):
    answer(reader_client, mitigation, "yes")
    fields = {f.name for f in PageHelpfulness._meta.get_fields()}
    assert fields == {"mitigation", "yes", "no", "updated_at"}


@pytest.mark.parametrize(
    "changes",
    [
        {"answer": "maybe"},
        {"answer": ""},
        {"token": "forged"},
        {"token": ""},
        {"answer": "yes\x00"},
    ],
)
def test_bad_answers_are_refused_and_not_counted(reader_client, mitigation, changes):
    data = {"answer": "yes", "token": token_on(reader_client, mitigation), **changes}
    url = reverse("feedback:helpful", args=[mitigation.code])
    assert reader_client.post(url, data).status_code == 400
    assert counts(mitigation) == (0, 0)


def test_a_token_is_for_its_own_page(reader_client, mitigation):
    other = MitigationFactory()
    response = answer(reader_client, other, "yes", token=token_on(reader_client, mitigation))
    assert response.status_code == 400
    assert counts(other) == (0, 0)


def test_drafts_and_unknown_pages_are_404(reader_client, editor_client):
    draft = MitigationFactory(status=Mitigation.Status.DRAFT)
    token = helpful.page_token(draft)
    assert answer(reader_client, draft, "yes", token=token).status_code == 404
    url = reverse("feedback:helpful", args=["NOPE1"])
    assert reader_client.post(url, {"answer": "yes", "token": token}).status_code == 404
    assert reader_client.get(reverse("feedback:helpful", args=[draft.code])).status_code == 405
    assert counts(draft) == (0, 0)


def test_a_flood_from_one_address_is_limited(settings, reader_client, mitigation):
    settings.FEEDBACK_RATE_LIMITS = {"ip": [(5, 60)], "user": [(20, 60)]}
    token = token_on(reader_client, mitigation)
    codes = [answer(reader_client, mitigation, "no", token=token).status_code for _ in range(12)]
    assert codes[:5] == [302] * 5
    assert set(codes[5:]) == {429}
    assert counts(mitigation) == (0, 1)
    # Feedback posts are counted apart: the flood did not use up the form's allowance.
    url = reverse("feedback:page", args=[mitigation.code])
    assert reader_client.post(url, fill(reader_client, url)).status_code == 302


def test_editors_see_counts_worst_first(editor_client, reviewer_client, reader_client):
    good = MitigationFactory(name="Good page")
    bad = MitigationFactory(name="Bad page")
    unanswered = MitigationFactory(name="Unanswered page")
    PageHelpfulness.objects.create(mitigation=good, yes=9, no=1)
    PageHelpfulness.objects.create(mitigation=bad, yes=1, no=9)
    PageHelpfulness.objects.create(mitigation=unanswered)
    url = "/admin/feedback/pagehelpfulness/"
    html = editor_client.get(url).text
    assert html.index("Bad page") < html.index("Good page") < html.index("Unanswered page")
    assert "10% of 10" in html and "90% of 10" in html
    for client in (reviewer_client, reader_client):
        assert client.get(url).status_code == 302
