"""The review made visible: per-page history, versions, citations, recent changes, feed."""

import json
import re

import pytest
from django.urls import reverse

from feedback import changelog
from feedback.models import Feedback
from mitigations.models import Mitigation
from tests.factories import FeedbackFactory, FigureFactory, MitigationFactory, future

pytestmark = pytest.mark.django_db


def history_id(m):
    return m.history.order_by("-history_id").values_list("history_id", flat=True).first()


@pytest.fixture
def page(db):
    m = MitigationFactory(name="Refusal training", code="T0001", definition="First words.")
    first = history_id(m)
    FeedbackFactory(
        mitigation=m,
        page_version=first,
        section="definition",
        kind="error",
        comment="Secretcomment: the definition is wrong.",
        resolution="addressed",
        status="approved",
    )
    FeedbackFactory(
        mitigation=m,
        page_version=first,
        section="reasoning",
        kind="classification",
        comment="Reviewersecret about the category.",
        resolution="addressed",
        status="approved",
        by_reviewer=True,
    )
    m.definition = "Better words."
    m.save()
    return m


def test_history_says_what_changed_and_that_it_answered_feedback(reader_client, page):
    html = reader_client.get(reverse("changelog:changes", args=[page.slug])).text
    assert "Version 2" in html and "Version 1" in html
    assert "Definition reworded after reader feedback (a correction on the definition)" in html
    assert "Secretcomment" not in html and "Reviewersecret" not in html
    assert "classification disagreement" not in html  # a reviewer's: the reviewers' own


def test_the_page_shows_its_latest_changes_and_citation(reader_client, page):
    html = reader_client.get(page.get_absolute_url()).text
    assert "History and citation" in html and "Cite this page" in html
    url = f"http://testserver/mitigations/{page.slug}/v/2/"
    assert url in html
    assert "still being polished" in html.lower()
    bib = re.search(r"<code>(@misc\{.*?)</code>", html, re.S).group(1)
    assert "t0001_v2" in bib and "Refusal training" in bib and url in bib
    csl = re.findall(r"<code>(\[.*?\])</code>", html, re.S)[0]
    data = json.loads(csl.replace("&quot;", '"').replace("&#x27;", "'"))
    assert data[0]["URL"] == url and data[0]["version"] == "2"
    assert "polished" in data[0]["note"]


def test_an_old_version_is_served_from_history(reader_client, page):
    html = reader_client.get(reverse("changelog:version", args=[page.slug, 1])).text
    assert "First words." in html and "Better words." not in html
    assert "A newer version exists." in html
    html = reader_client.get(reverse("changelog:version", args=[page.slug, 2])).text
    assert "Better words." in html and "This is the current version." in html


@pytest.mark.parametrize("number", [0, 3, 99, 10**12])
def test_a_version_that_does_not_exist_is_404(reader_client, page, number):
    url = reverse("changelog:version", args=[page.slug, number])
    assert reader_client.get(url).status_code == 404
    assert reader_client.get(f"/mitigations/{page.slug}/v/abc/").status_code == 404
    assert reader_client.get("/mitigations/no-such-page/v/1/").status_code == 404


def test_draft_versions_never_count(reader_client, editor_client):
    m = MitigationFactory(status=Mitigation.Status.DRAFT, definition="Draftsecret text.")
    for url in (
        reverse("changelog:changes", args=[m.slug]),
        reverse("changelog:version", args=[m.slug, 1]),
    ):
        assert reader_client.get(url).status_code == 404
    m.definition = "Public text."
    m.status = Mitigation.Status.PUBLISHED
    m.save()
    # The published state is version 1: the draft's records are left out for everyone.
    for client in (reader_client, editor_client):
        html = client.get(reverse("changelog:version", args=[m.slug, 1])).text
        assert "Public text." in html and "Draftsecret" not in html
        assert client.get(reverse("changelog:version", args=[m.slug, 2])).status_code == 404
    assert [c.number for c in changelog.page_changes(m)] == [1]


def test_recent_changes_and_feed_list_only_visible_pages(reader_client, editor_client, page):
    draft = MitigationFactory(name="Zebradraft page", status=Mitigation.Status.DRAFT)
    draft.definition = "changed"
    draft.save()
    for url in (reverse("changelog:recent"), reverse("changelog:feed")):
        text = reader_client.get(url).text
        assert "Refusal training" in text and "Definition reworded" in text
        assert "Zebradraft" not in text and "Secretcomment" not in text
    # Drafts have no public versions, so even editors see none of the draft's edits.
    assert "Zebradraft" not in editor_client.get(reverse("changelog:recent")).text


def test_figures_are_never_mentioned(reviewer_client, page):
    figure = FigureFactory(mitigation=page, label="Figlabelsecret", preliminary=True)
    figure.value = 12
    figure.save()
    for url in (
        reverse("changelog:changes", args=[page.slug]),
        reverse("changelog:recent"),
        reverse("changelog:feed"),
        reverse("changelog:version", args=[page.slug, 2]),
    ):
        assert "Figlabelsecret" not in reviewer_client.get(url).text


def test_feedback_of_any_status_never_leaks_text(reader_client, page):
    Feedback.objects.update(comment="Leakytext")
    html = reader_client.get(reverse("changelog:changes", args=[page.slug])).text
    assert "Leakytext" not in html


@pytest.mark.parametrize("edits", [2, 30])
@pytest.mark.parametrize("role", ["reader", "reviewer", "editor"])
def test_query_counts_do_not_grow_with_history(
    request, role, edits, page, django_assert_max_num_queries
):
    for i in range(edits):
        page.definition = f"Edit {i}."
        page.save()
        MitigationFactory(definition=f"Other page {i}.")
    client = request.getfixturevalue(f"{role}_client")
    for url in (
        page.get_absolute_url(),
        reverse("changelog:changes", args=[page.slug]),
        reverse("changelog:version", args=[page.slug, 2]),
        reverse("changelog:recent"),
        reverse("changelog:feed"),
        reverse("about"),
        "/mitigations/?q=edit",
        "/mitigations/?q=edti",
    ):
        with django_assert_max_num_queries(25, info=url):
            assert client.get(url).status_code == 200


def test_old_versions_show_only_figures_public_then_and_now(reviewer_client, page):
    public = FigureFactory(mitigation=page, label="Publicfig", preliminary=False)
    later_restricted = FigureFactory(mitigation=page, label="Laterfig", preliminary=False)
    prelim_then = FigureFactory(mitigation=page, label="Prelimthen", preliminary=True)
    embargoed = FigureFactory(
        mitigation=page, label="Embargofig", preliminary=False, embargo_until=future()
    )
    page.reasoning = "Version three."
    page.save()
    later_restricted.preliminary = True
    later_restricted.save()
    prelim_then.preliminary = False
    prelim_then.save()
    html = reviewer_client.get(reverse("changelog:version", args=[page.slug, 3])).text
    assert "Publicfig" in html
    for hidden in ("Laterfig", "Prelimthen", "Embargofig"):
        assert hidden not in html
    assert public and embargoed
