"""Public pages reveal no database ids or global counters, and an edit of a hidden figure is
not observable by those who cannot see it (its page's date, position and version stay)."""

import base64
import binascii
import contextlib
import datetime
import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from feedback.models import Feedback
from mitigations.models import Figure, Mitigation
from tests.conftest import verify_session
from tests.factories import FeedbackFactory, FigureFactory, MitigationFactory, UserFactory

PAGE_FIELD = re.compile(r'name="page" value="([^"]+)"')
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def page_token(client, mitigation):
    return PAGE_FIELD.search(client.get(mitigation.get_absolute_url()).text)[1]


def decoded_parts(token):
    """Every piece of the token that base64 can read."""
    out = []
    for part in re.split(r"[:.]", token):
        with contextlib.suppress(binascii.Error, ValueError):
            out.append(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return out


def set_dates(mitigation, when):
    dates = {f.name for f in Mitigation._meta.fields} & {"updated_at", "public_updated_at"}
    Mitigation.objects.filter(pk=mitigation.pk).update(**dict.fromkeys(dates, when))


# --- 4: nothing in public HTML reveals ids or counters -------------------------------------


@pytest.mark.django_db
def test_page_token_reveals_no_id_and_no_global_counter():
    first = MitigationFactory(code="P1", slug="p-one")
    for n in range(7):  # drafts saved in between: their ids and history ids are used up
        draft = MitigationFactory(code=f"D{n}", status="draft")
        draft.definition = "changed"
        draft.save()
    second = MitigationFactory(code="P2", slug="p-two")
    reader = Client()
    one, two = page_token(reader, first), page_token(reader, second)
    for token, page in ((one, first), (two, second)):
        for raw in decoded_parts(token):
            assert str(page.pk).encode() not in raw, raw
            assert str(page.version).encode() not in raw, raw
    # The readable part is the page's own version: the same for both (no id, no counter).
    assert one.split(".")[0] == two.split(".")[0] == "1"
    assert one != two  # bound to its page by the HMAC


@pytest.mark.django_db
def test_page_token_moves_only_with_this_pages_visible_changes():
    page = MitigationFactory(code="P1", slug="p-one")
    reader = Client()
    before = page_token(reader, page)
    other = MitigationFactory(code="D1", status="draft")
    other.name = "Renamed draft"
    other.save()
    page.save()  # saved without a change
    assert page_token(reader, page) == before
    page.definition = "A new definition."
    page.save()
    assert page_token(reader, page) != before


@pytest.mark.django_db
def test_page_token_of_one_page_does_not_fit_another_and_maps_to_the_right_history(settings):
    settings.FEEDBACK_MIN_SECONDS = 0
    settings.FEEDBACK_RATE_LIMITS = {"ip": [(100, 60)], "user": [(100, 60)]}
    page = MitigationFactory(code="P1", slug="p-one")
    other = MitigationFactory(code="P2", slug="p-two")
    reader = Client()
    old_token, old_history = page_token(reader, page), page.version
    page.definition = "Changed after the reader loaded the form."
    page.save()
    post = {"section": "definition", "kind": "error", "comment": "A comment."}
    html = reader.get(page.get_absolute_url()).text
    form = html[html.index('class="feedback-form"') :]
    fields = dict(HIDDEN.findall(form))
    response = reader.post(
        f"/feedback/on/{other.code}/", {**fields, **post, "page": page_token(reader, page)}
    )
    assert "does not match the page" in response.text
    for forged in ("99.abc", "1", "1." + "A" * 43, "x" * 300, "2." + old_token.split(".")[1]):
        response = reader.post(f"/feedback/on/{page.code}/", {**fields, **post, "page": forged})
        assert response.status_code == 200 and "does not match the page" in response.text
    response = reader.post(f"/feedback/on/{page.code}/", {**fields, **post, "page": old_token})
    assert response.status_code == 302
    assert Feedback.objects.get().page_version == old_history  # the admin's diff still works


@pytest.mark.django_db
def test_public_html_and_headers_carry_no_ids(reviewer_client):
    page = MitigationFactory(code="P1", slug="p-one")
    FigureFactory(mitigation=page, key="shown", preliminary=False)
    item = FeedbackFactory(mitigation=page, status="approved", by_reviewer=True)
    for client in (Client(), reviewer_client):
        response = client.get(page.get_absolute_url())
        form = response.text[response.text.index('class="feedback-form"') :]
        assert {name for name, _ in HIDDEN.findall(form)} == {
            "csrfmiddlewaretoken",
            "stamp",
            "page",
        }
        assert "ETag" not in response.headers and "Last-Modified" not in response.headers
    thread = reviewer_client.get(page.get_absolute_url()).text
    assert item.comment in thread
    assert f"fb-item-{item.pk}" not in thread or item.pk == 1


# --- 5: an edit of a hidden figure is not observable ---------------------------------------


def admin_change_data(page, figures):
    data = {
        "code": page.code,
        "name": page.name,
        "slug": page.slug,
        "status": page.status,
        "category": page.category_id,
        "definition": page.definition,
        "additional_information": page.additional_information,
        "classified_by": page.classified_by,
        "reasoning": page.reasoning,
        "figures-TOTAL_FORMS": str(len(figures)),
        "figures-INITIAL_FORMS": str(len(figures)),
        "figures-MIN_NUM_FORMS": "0",
        "figures-MAX_NUM_FORMS": "1000",
    }
    for n, f in enumerate(figures):
        prefix = f"figures-{n}-"
        data.update(
            {
                prefix + "id": f.pk,
                prefix + "mitigation": page.pk,
                prefix + "position": f.position,
                prefix + "key": f.key,
                prefix + "label": f.label,
                prefix + "value": str(f.value),
                prefix + "unit": f.unit,
                prefix + "risk_area": f.risk_area,
                prefix + "sample_size": f.sample_size or "",
                prefix + "embargo_until": f.embargo_until or "",
            }
        )
        if f.preliminary:
            data[prefix + "preliminary"] = "on"
    return data


@pytest.fixture
def pages(db, settings):
    settings.PAGE_CACHE_SECONDS = 60
    old, new = (
        timezone.now() - datetime.timedelta(days=30),
        timezone.now() - datetime.timedelta(days=2),
    )
    edited = MitigationFactory(code="E1", name="Aardvark edited page", slug="edited")
    FigureFactory(mitigation=edited, key="hidden", label="Hidden one", preliminary=True, position=1)
    FigureFactory(mitigation=edited, key="shown", label="Shown one", preliminary=False, position=3)
    FigureFactory(
        mitigation=edited,
        position=2,
        key="later",
        label="Embargoed one",
        preliminary=False,
        embargo_until=datetime.date.today() + datetime.timedelta(days=10),
    )
    newer = MitigationFactory(code="N1", name="Zebra newer page", slug="newer")
    set_dates(edited, old)
    set_dates(newer, new)
    return edited, newer


def observed(client, edited):
    """What a client can see of the edited page's freshness."""
    home = client.get("/").text
    recent = home[home.index("Recently updated") :]
    listing = client.get("/mitigations/?sort=-updated").text
    feed = client.get("/mitigations/feed.atom").text
    detail = client.get(edited.get_absolute_url()).text
    return {
        "recent_first": recent.index("Aardvark") < recent.index("Zebra"),
        "list_first": listing.index("Aardvark") < listing.index("Zebra"),
        "feed_first": feed.index("Aardvark") < feed.index("Zebra"),
        "date": re.search(r"updated (\d+ \w+ \d{4})", detail)[1],
        "token": PAGE_FIELD.search(detail)[1],
        "sitemap": client.get("/sitemap.xml").text,
    }


def edit_in_admin(editor_client, page, key, **changes):
    figures = list(Figure.objects.filter(mitigation=page).order_by("position", "key"))
    for f in figures:
        if f.key == key:
            for name, value in changes.items():
                setattr(f, name, value)
    response = editor_client.post(
        f"/admin/mitigations/mitigation/{page.pk}/change/", admin_change_data(page, figures)
    )
    assert response.status_code == 302, response.text[:2000]


@pytest.mark.parametrize("key", ["hidden", "later"])
def test_editing_only_a_hidden_figure_is_not_observable(pages, editor_client, key):
    edited, _ = pages
    reader, reviewer = Client(), Client()
    rev = UserFactory(username="rev", role="reviewer")
    reviewer.force_login(rev)
    verify_session(reviewer, rev)
    before = observed(reader, edited)
    assert not before["recent_first"] and not before["list_first"]

    edit_in_admin(editor_client, edited, key, value=Decimal("99.5"), label="Changed hidden")
    assert Figure.objects.get(mitigation=edited, key=key).value == Decimal("99.5")

    assert observed(reader, edited) == before
    # Those who see the figure see the change.
    assert observed(reviewer, edited)["list_first"]


def test_editing_a_visible_figure_is_observable(pages, editor_client):
    edited, _ = pages
    reader = Client()
    before = observed(reader, edited)
    edit_in_admin(editor_client, edited, "shown", value=Decimal("12.5"))
    after = observed(reader, edited)
    assert after["recent_first"] and after["list_first"] and after["feed_first"]
    assert after["token"] != before["token"]
    assert after["date"] != before["date"]


def test_a_hidden_figure_made_public_is_observable(pages, editor_client):
    edited, _ = pages
    reader = Client()
    before = observed(reader, edited)
    edit_in_admin(editor_client, edited, "hidden", preliminary=False)
    after = observed(reader, edited)
    assert after["list_first"] and after["token"] != before["token"]


def test_figure_admin_and_deletion_follow_the_same_rule(pages):
    edited, _ = pages
    reader = Client()
    before = observed(reader, edited)
    hidden = Figure.objects.get(mitigation=edited, key="hidden")
    hidden.label = "Saved on its own"
    hidden.save()
    hidden.delete()
    assert observed(reader, edited) == before
    Figure.objects.get(mitigation=edited, key="shown").delete()
    assert observed(reader, edited)["list_first"]


def test_an_import_changing_only_a_hidden_figure_is_not_observable(
    pages, tmp_path, django_capture_on_commit_callbacks
):
    from mitigations import dataset
    from mitigations.importer import import_dataset

    edited, _ = pages
    reader = Client()
    before = observed(reader, edited)
    tables = dataset.export_tables(Mitigation.objects.all(), Figure.objects.all())
    for row in tables["figures"]:
        if row["key"] == "hidden":
            row["value"] = "77"
    dataset.write_csv_folder(tables, tmp_path / "hidden")
    with django_capture_on_commit_callbacks(execute=True):
        assert import_dataset(tmp_path / "hidden").counts["figures"].updated == 1
    assert observed(reader, edited) == before

    for row in tables["figures"]:
        if row["key"] == "shown":
            row["value"] = "78"
    dataset.write_csv_folder(tables, tmp_path / "shown")
    with django_capture_on_commit_callbacks(execute=True):
        assert import_dataset(tmp_path / "shown").counts["figures"].updated == 1
    after = observed(reader, edited)
    assert after["list_first"] and after["token"] != before["token"]
