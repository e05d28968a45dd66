"""Readers' journeys: feedback from a section, helpful votes, forgiving search, the review."""

import csv
import re

import pytest
from playwright.sync_api import expect

from feedback.models import Feedback, PageHelpfulness
from mitigations.models import Mitigation

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAGE_CODE = "A1429"
PAGE_NAME = "Unlearning"


def detail_path(code=PAGE_CODE):
    return Mitigation.objects.get(code=code).get_absolute_url()


def test_section_link_opens_the_form_with_the_part_chosen(web):
    page = web.page()
    page.goto(detail_path())
    # With JavaScript the form opens in place, under the section, with the part chosen.
    page.locator("a.section-feedback[data-part='sources']").first.click()
    box = page.locator(".feedback-in-place")
    expect(box).to_be_visible()
    expect(box.get_by_label("Which part is it about?")).to_have_value("sources")
    expect(box.get_by_label("Your feedback")).to_be_focused()
    web.axe(page, "reader-form-in-place")
    box.get_by_label("What kind of feedback is it?").select_option(label="Missing or wrong source")
    box.get_by_label("Your feedback").fill("The second source is a preprint; cite the journal.")
    box.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your feedback")
    item = Feedback.objects.get()
    assert (item.section, item.kind) == ("sources", "source")
    page.locator("a.tracking-link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your feedback")
    web.axe(page, "reader-tracking-plain")
    web.fits_phone(page, "reader-tracking-plain")
    web.assert_clean()


def test_section_link_works_without_javascript(web):
    page = web.context(java_script_enabled=False).new_page()
    page.goto(detail_path())
    page.get_by_role("link", name="I disagree with the classification").click()
    expect(page).to_have_url(re.compile(r"\?part=reasoning&kind=classification#feedback$"))
    form = page.locator("#feedback form.feedback-form")
    expect(form.get_by_label("Which part is it about?")).to_have_value("reasoning")
    expect(form.get_by_label("What kind of feedback is it?")).to_have_value("classification")
    expect(form.get_by_label("Category you would propose (optional)")).to_be_visible()
    # The header's "Feedback" stays on the page and goes to its form.
    header = page.get_by_role("banner")
    expect(header.get_by_role("link", name="Feedback")).to_have_attribute("href", "#feedback")
    web.assert_clean()


def search_from_header(page, text):
    header = page.get_by_role("banner")
    header.get_by_role("searchbox", name="Search mitigations").fill(text)
    header.get_by_role("button", name="Search").click()


def test_an_id_search_goes_to_the_page(web):
    page = web.page()
    page.goto("/")
    search_from_header(page, "a1421")
    expect(page).to_have_url(re.compile(re.escape(detail_path("A1421")) + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        Mitigation.objects.get(code="A1421").name
    )
    web.assert_clean()


def test_a_typo_gets_a_suggestion_that_finds_results(web):
    page = web.page()
    page.goto("/")
    search_from_header(page, "incidnet")
    expect(page).to_have_title(re.compile("Results for ‘incidnet’"))
    expect(page.get_by_text("No mitigations match")).to_be_visible()
    web.axe(page, "reader-search-empty")
    web.fits_phone(page, "reader-search-empty")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("link", name="incident", exact=True).click()
    expect(page).to_have_url(re.compile(r"\?q=incident$"))
    cards = page.locator(".mitigation-card")
    expect(cards.first).to_be_visible()
    expect(page.locator(".snippet mark").first).to_have_text(re.compile("incident", re.IGNORECASE))
    web.axe(page, "reader-search-results")
    web.fits_phone(page, "reader-search-results")
    web.assert_clean()


def test_csv_download_of_a_filtered_search(web):
    page = web.page()
    page.goto("/mitigations/")
    filters = page.get_by_role("form", name="Filter mitigations")
    filters.get_by_label("Search").fill("audit")
    filters.get_by_label("Page status").select_option(label="Published")
    filters.get_by_role("button", name="Apply").click()
    # Only the filters that are set are in the URL.
    expect(page).to_have_url(re.compile(r"/mitigations/\?q=audit&status=published(&sort=\w+)?$"))
    shown = {
        href.rsplit("-", 1)[-1].strip("/").upper()
        for href in page.locator(".mitigation-card h2 a").evaluate_all(
            "els => els.map(e => e.getAttribute('href'))"
        )
    }
    assert shown
    with page.expect_download() as info:
        page.get_by_role("link", name="CSV", exact=True).click()
    with open(info.value.path(), encoding="utf-8", newline="") as f:
        ids = {row["id"] for row in csv.DictReader(f)}
    assert ids == shown
    for code in ids:
        assert Mitigation.objects.get(code=code).status == "published"
    web.assert_clean()


def test_helpful_no_opens_the_form(web):
    page = web.page()
    page.goto(detail_path())
    box = page.locator("#helpful")
    expect(box.get_by_role("heading", name="Was this page helpful?")).to_be_visible()
    box.get_by_role("button", name="No").click()
    expect(page).to_have_url(re.compile(r"\?helpful=no#feedback$"))
    expect(page.get_by_text("What was missing or wrong?")).to_be_visible()
    expect(page.locator("#feedback form.feedback-form")).to_be_visible()
    web.axe(page, "reader-helpful-no")
    web.fits_phone(page, "reader-helpful-no")
    counts = PageHelpfulness.objects.get(mitigation__code=PAGE_CODE)
    assert (counts.yes, counts.no) == (0, 1)
    web.assert_clean()


def test_new_pages_are_accessible_and_fit_a_phone(web):
    mitigation = Mitigation.objects.get(code=PAGE_CODE)
    mitigation.definition += " Applied after training."
    mitigation.save()
    item = Feedback.objects.create(
        mitigation=mitigation,
        section="definition",
        kind="error",
        comment="A note.",
        submission_id="e2e-readers-1",
        status="approved",
        resolution="addressed",
    )
    page = web.page()
    for name, path in [
        ("about", "/about/"),
        ("recent-changes", "/mitigations/changes/"),
        ("page-history", f"/mitigations/{mitigation.slug}/changes/"),
        ("version-1", f"/mitigations/{mitigation.slug}/v/1/"),
        ("tracking-addressed", item.get_absolute_url()),
    ]:
        page.set_viewport_size({"width": 1280, "height": 900})
        response = page.goto(path)
        assert response.status == 200, (path, response.status)
        web.axe(page, f"reader-{name}")
        web.fits_phone(page, f"reader-{name}")
        web.axe(page, f"reader-{name}-375")
    # The citation on the page opens and shows the versioned URL.
    page.goto(detail_path())
    page.get_by_text("Cite this page").click()
    expect(page.locator(".citation-text")).to_contain_text(f"/mitigations/{mitigation.slug}/v/")
    web.axe(page, "reader-detail-citation")
    web.assert_clean()


def test_phone_layout_dark_mode_and_print(web):
    phone = web.page(width=375, height=800)
    phone.goto("/mitigations/?status=polishing")
    summary = phone.locator("summary.filter-summary")
    expect(summary).to_have_text("Filters (1)")
    expect(phone.get_by_role("form", name="Filter mitigations")).to_be_hidden()
    first_card = phone.locator(".mitigation-card").first.bounding_box()
    assert first_card["y"] < 800, "the first result is on the first screen"
    summary.click()
    expect(phone.get_by_role("form", name="Filter mitigations")).to_be_visible()
    web.axe(phone, "reader-list-phone-filters")

    phone.goto("/")
    recent = phone.get_by_role("heading", name="Recently updated").bounding_box()
    tree = phone.get_by_role("heading", name="Browse by taxonomy").bounding_box()
    assert recent["y"] < tree["y"]
    web.fits_phone(phone, "reader-home-phone")

    wide = web.page()
    wide.goto("/mitigations/")
    expect(wide.get_by_role("form", name="Filter mitigations")).to_be_visible()
    wide.goto("/")
    recent = wide.get_by_role("heading", name="Recently updated").bounding_box()
    tree = wide.get_by_role("heading", name="Browse by taxonomy").bounding_box()
    assert tree["x"] < recent["x"]  # side by side, the tree first

    dark = web.page(color_scheme="dark")
    for path in ("/", detail_path(), "/mitigations/?q=audit", "/about/"):
        dark.goto(path)
        expect(dark.locator("html")).to_have_attribute("data-bs-theme", "dark")
        web.axe(dark, f"reader-dark-{path.strip('/').replace('/', '-') or 'home'}")

    printed = web.page()
    printed.goto(detail_path())
    printed.emulate_media(media="print")
    expect(printed.locator(".print-only")).to_be_visible()
    expect(printed.locator(".print-only")).to_contain_text("/mitigations/")
    expect(printed.locator(".print-only")).to_contain_text("printed on")
    printed.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    abstract = printed.locator("section[aria-labelledby='sec-sources'] details").first
    expect(abstract).to_have_attribute("open", "")
    web.assert_clean()
