"""Releasing figures and pages in the admin: actions with history, forward-looking filters."""

import datetime

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from mitigations.models import Figure, Mitigation
from portal.lib import access
from tests.factories import FigureFactory, MitigationFactory

pytestmark = pytest.mark.django_db

FIGURES = "/admin/mitigations/figure/"
PAGES = "/admin/mitigations/mitigation/"


def days(n):
    return access.today() + datetime.timedelta(days=n)


def act(client, url, action, objects, **extra):
    return client.post(
        url, {"action": action, "index": 0, ACTION_CHECKBOX_NAME: [o.pk for o in objects], **extra}
    )


def test_lift_embargo_now_on_figures_with_history(editor_client, editor, client):
    page = MitigationFactory(status="published")
    held = FigureFactory(mitigation=page, embargo_until=days(20), label="Held back figure")
    other = FigureFactory(embargo_until=days(20))
    assert "Held back figure" not in client.get(page.get_absolute_url()).text
    response = act(editor_client, FIGURES, "lift_embargo_now", [held])
    assert response.status_code == 302
    held.refresh_from_db()
    other.refresh_from_db()
    assert held.embargo_until == access.today() and other.embargo_until == days(20)
    record = held.history.latest()
    assert record.history_user == editor and record.history_change_reason == "Embargo lifted"
    assert not access.figure_is_restricted(held)
    assert "Held back figure" in client.get(page.get_absolute_url()).text  # cache moved on


def test_mark_final_on_a_page_marks_all_its_figures(editor_client, editor):
    page = MitigationFactory()
    figures = FigureFactory.create_batch(3, mitigation=page, preliminary=True)
    elsewhere = FigureFactory(preliminary=True)
    act(editor_client, PAGES, "mark_final", [page])
    assert not Figure.objects.filter(pk__in=[f.pk for f in figures], preliminary=True).exists()
    elsewhere.refresh_from_db()
    assert elsewhere.preliminary
    assert {f.history.latest().history_user for f in Figure.objects.filter(mitigation=page)} == {
        editor
    }


def test_set_embargo_date_asks_for_the_date_first(editor_client, editor):
    figure = FigureFactory()
    response = act(editor_client, FIGURES, "set_embargo_date", [figure])
    assert response.status_code == 200
    assert "Set the embargo date" in response.text and 'type="date"' in response.text
    response = act(
        editor_client, FIGURES, "set_embargo_date", [figure], apply="1", embargo_until="2031-03-04"
    )
    assert response.status_code == 302
    figure.refresh_from_db()
    assert figure.embargo_until == datetime.date(2031, 3, 4)
    assert figure.history.latest().history_user == editor


@pytest.mark.parametrize("bad", ["not a date", "31/02/2030", "1066-10-14", "99999-01-01"])
def test_set_embargo_date_with_a_bad_date_is_a_form_error(editor_client, bad):
    figure = FigureFactory(embargo_until=None)
    response = act(
        editor_client, FIGURES, "set_embargo_date", [figure], apply="1", embargo_until=bad
    )
    assert response.status_code == 200
    assert 'class="errorlist' in response.text
    figure.refresh_from_db()
    assert figure.embargo_until is None


def test_set_embargo_date_on_pages_applies_to_their_figures(editor_client):
    page = MitigationFactory()
    figures = FigureFactory.create_batch(2, mitigation=page)
    act(editor_client, PAGES, "set_embargo_date", [page], apply="1", embargo_until="2030-01-01")
    assert {f.embargo_until for f in Figure.objects.filter(pk__in=[f.pk for f in figures])} == {
        datetime.date(2030, 1, 1)
    }


@pytest.mark.parametrize(
    ("action", "status"), [("publish", "published"), ("mark_polishing", "polishing")]
)
def test_publish_and_polishing_with_history(editor_client, editor, action, status):
    pages = MitigationFactory.create_batch(2, status="draft")
    response = act(editor_client, PAGES, action, pages)
    assert response.status_code == 302
    for page in Mitigation.objects.filter(pk__in=[p.pk for p in pages]):
        assert page.status == status
        assert page.history.latest().history_user == editor


def test_actions_are_for_editors_only(reviewer_client):
    figure = FigureFactory(embargo_until=days(5))
    act(reviewer_client, FIGURES, "lift_embargo_now", [figure])
    figure.refresh_from_db()
    assert figure.embargo_until == days(5)


def test_forward_looking_embargo_filters(editor_client):
    soon = FigureFactory(embargo_until=days(3), key="soon")
    month = FigureFactory(embargo_until=days(20), key="month")
    later = FigureFactory(embargo_until=days(90), key="later")
    lifted = FigureFactory(embargo_until=days(-2), key="lifted")
    none = FigureFactory(key="none")
    expected = {
        "active": {soon, month, later},
        "7": {soon},
        "30": {soon, month},
        "lifted": {lifted},
        "none": {none},
    }
    for value, figures in expected.items():
        response = editor_client.get(f"{FIGURES}?embargo={value}")
        assert response.status_code == 200
        assert set(response.context["cl"].result_list) == figures, value
    html = editor_client.get(FIGURES).text
    assert "Lifts within 7 days" in html and "Past 7 days" not in html
    pages = editor_client.get(f"{PAGES}?embargo=7").context["cl"].result_list
    assert set(pages) == {soon.mitigation}
    assert editor_client.get(f"{FIGURES}?embargo=junk").status_code in (200, 400)


def test_figures_inline_and_list_show_status_first(editor_client):
    page = MitigationFactory()
    FigureFactory(mitigation=page, preliminary=True)
    html = editor_client.get(f"{PAGES}{page.pk}/change/").text
    inline = html[html.index('id="figures-group"') :]
    assert inline.index("Preliminary") < inline.index("Embargo until") < inline.index("Label")
    listing = editor_client.get(FIGURES).text
    assert listing.index("column-preliminary") < listing.index("column-label")
