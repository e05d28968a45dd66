"""Readers' journeys: feedback from a section, helpful votes, forgiving search, the review."""

import re

import pytest
from playwright.sync_api import expect

from feedback.models import Feedback
from mitigations.models import Mitigation

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAGE_CODE = "A1426"
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
