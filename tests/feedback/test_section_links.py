"""Feedback where the reader is: the title's and each section's links choose the form's part."""

import re

import pytest
from django.urls import reverse

from feedback.models import Feedback
from tests.factories import FigureFactory, MitigationFactory, SourceFactory
from tests.feedback.conftest import fill

pytestmark = pytest.mark.django_db

PARTS = ["definition", "additional_information", "reasoning", "related", "sources"]


@pytest.fixture
def page(db):
    other = MitigationFactory(name="Output filtering", code="T0002")
    m = MitigationFactory(
        name="Refusal training",
        code="T0001",
        additional_information="More *text*.",
        reasoning="Because it changes the model.",
    )
    m.related.add(other)
    m.sources.add(SourceFactory())
    FigureFactory(mitigation=m, preliminary=False)
    return m


def selected(html, name):
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    found = re.search(r'<option value="([^"]*)"[^>]*selected', select)
    return found.group(1) if found else None


def test_every_section_has_its_link_and_the_title_one(reader_client, page):
    html = reader_client.get(page.get_absolute_url()).text
    for part in PARTS:
        assert f'href="?part={part}#feedback" data-part="{part}"' in html
    assert ">Suggest a correction</a>" in html
    assert 'href="?part=reasoning&amp;kind=classification#feedback"' in html
    # Readers cannot choose figures as a part (the form does not offer it): no link to it.
    assert "?part=figures" not in html


def test_reviewers_get_the_figures_link(reviewer_client, page):
    html = reviewer_client.get(page.get_absolute_url()).text
    assert 'href="?part=figures#feedback"' in html


def test_no_part_is_chosen_by_default(reader_client, page):
    html = reader_client.get(page.get_absolute_url()).text
    assert selected(html, "section") in (None, "")
    assert '<option value="" selected>Choose the part of the page…</option>' in html


@pytest.mark.parametrize("part", PARTS)
def test_the_link_chooses_the_part(reader_client, page, part):
    html = reader_client.get(f"{page.get_absolute_url()}?part={part}").text
    assert selected(html, "section") == part


def test_classification_link_chooses_part_and_kind(reader_client, page):
    url = f"{page.get_absolute_url()}?part=reasoning&kind=classification"
    html = reader_client.get(url).text
    assert selected(html, "section") == "reasoning"
    assert selected(html, "kind") == "classification"


@pytest.mark.parametrize("part", ["figures", "nonsense", "", "other' OR 1=1"])
def test_unknown_or_forbidden_parts_choose_nothing(reader_client, page, part):
    response = reader_client.get(page.get_absolute_url(), {"part": part, "kind": part})
    assert response.status_code == 200
    assert selected(response.text, "section") in (None, "")


def test_header_feedback_goes_to_the_page_form(reader_client, page):
    html = reader_client.get(page.get_absolute_url()).text
    assert '<a class="nav-link" href="#feedback">Feedback</a>' in html
    home = reader_client.get(reverse("home")).text
    assert f'<a class="nav-link" href="{reverse("feedback:general")}">Feedback</a>' in home


def test_a_part_must_be_chosen(reader_client, page):
    url = reverse("feedback:page", args=[page.code])
    response = reader_client.post(url, fill(reader_client, url, section="", kind="error"))
    assert response.status_code == 200
    assert "Please choose the part of the page." in response.text
    assert not Feedback.objects.exists()


def test_a_classification_disagreement_is_about_the_classification(reader_client, page):
    url = reverse("feedback:page", args=[page.code])
    data = fill(reader_client, url, section="", kind="classification", proposed_category="")
    assert reader_client.post(url, data).status_code == 302
    assert Feedback.objects.get().section == "reasoning"
