"""Reviewers in a real browser: finding restricted figures, the threaded discussion, the
phone layout; a reader holding a reviewer's tracking link sees its status only."""

import re

import pytest
from playwright.sync_api import expect

from feedback.models import Feedback, Reply
from mitigations.models import Mitigation
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.test_flows import PAGE_CODE, PAGE_NAME, RESTRICTED_VALUES
from tests.factories import FeedbackFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The smallest size a chart label may have on screen at 375 px (the SVG is scaled to fit).
MIN_LABEL_PX = 12


def _rita_item():
    return FeedbackFactory(
        mitigation=Mitigation.objects.get(code=PAGE_CODE),
        user=UserFactory(username="rita", first_name="Rita", last_name="Reviewer", role="reviewer"),
        by_reviewer=True,
        section=Feedback.Section.FIGURES,
        comment="The CBRN share of 48.7% looks high next to the other risk areas.",
        status=Feedback.Status.PENDING,
    )


def test_reviewer_filters_to_restricted_pages_and_replies_in_a_thread(web):
    item = _rita_item()
    page = web.page()
    page.goto("/accounts/signin/?next=/mitigations/")
    web.sign_in(page, "reviewer")

    filters = page.get_by_role("form", name="Filter mitigations")
    filters.get_by_label("Restricted figures").select_option(
        label="Has preliminary or embargoed figures"
    )
    filters.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"restricted=1"))
    chip = page.get_by_role(
        "link", name="Remove filter Restricted figures: Has preliminary or embargoed figures"
    )
    expect(chip).to_be_visible()
    card = page.locator(
        ".mitigation-card", has=page.get_by_role("link", name=PAGE_NAME, exact=True)
    )
    expect(card.locator(".restricted-marker")).to_contain_text("6 preliminary")
    # Every card on the filtered list has a marker.
    assert page.locator(".mitigation-card").count() == page.locator(".restricted-marker").count()
    web.shot(page, "reviewer-list-restricted")

    card.get_by_role("link", name=PAGE_NAME, exact=True).click()
    expect(page.locator(".notice-restricted")).to_contain_text("6 figures are preliminary.")
    expect(page.locator("caption")).to_contain_text("seen by reviewer")
    expect(page.get_by_role("link", name="Discussion (1)")).to_be_visible()

    # The pending post of another reviewer is there at once; reply under it.
    article = page.locator(f"#fb-item-{item.thread_ref}")
    expect(article).to_contain_text("Rita Reviewer")
    expect(article).to_contain_text("Not yet read by the editors")
    article.locator("summary", has_text="Reply").click()
    article.get_by_label("Your reply").fill("Agreed: the sample for CBRN is the smallest.")
    article.get_by_role("button", name="Post reply").click()
    expect(page).to_have_url(re.compile(rf"#fb-item-{item.thread_ref}$"))
    replies = page.locator(f"#fb-item-{item.thread_ref} .thread-replies")
    expect(replies.get_by_role("listitem")).to_have_count(1)
    expect(replies).to_contain_text("Agreed: the sample for CBRN is the smallest.")
    expect(replies).to_contain_text("you")
    expect(page.get_by_role("link", name="Discussion (2)")).to_be_visible()
    assert Reply.objects.get().user.username == "reviewer"
    assert Feedback.objects.count() == 1  # a reply is not feedback
    web.axe(page, "reviewer-thread")
    web.shot(page, "reviewer-thread")

    # Phone: the table's rows stack (status first, no hidden column), labels >= 12 px.
    assert web.fits_phone(page, "reviewer-detail-phone")
    table = page.get_by_role("table", name=re.compile("Figures for this mitigation"))
    for value in RESTRICTED_VALUES:
        expect(table).to_contain_text(value)
    boxes = page.evaluate(
        """() => [...document.querySelectorAll('.figures-table tbody tr')].map((tr) =>
             [...tr.children].map((c) => { const r = c.getBoundingClientRect();
               return [r.left, r.right, getComputedStyle(c).display]; }))"""
    )
    width = page.evaluate("window.innerWidth")
    for row in boxes:
        for left, right, display in row:
            assert display != "none" and left >= 0 and right <= width, (left, right, width)
    sizes = page.evaluate(
        """() => [...document.querySelectorAll('svg.figure-chart text')].map((t) =>
             t.getScreenCTM().a * parseFloat(getComputedStyle(t).fontSize))"""
    )
    assert sizes and min(sizes) >= MIN_LABEL_PX, sizes
    first_cell = page.locator(".figures-table tbody tr").first.locator("td").first
    expect(first_cell).to_have_attribute("data-label", "Status")
    web.shot(page, "reviewer-detail-phone")
    page.locator("section[aria-labelledby=sec-figures]").screenshot(
        path=ARTIFACTS / "reviewer-figures-phone.png"
    )

    page.goto("/accounts/")
    expect(page.get_by_role("heading", name="Pages awaiting your review")).to_be_visible()
    expect(page.get_by_role("heading", name="Embargoes lifting soon")).to_be_visible()
    assert web.fits_phone(page, "reviewer-account-phone")
    web.shot(page, "reviewer-account-phone")
    web.assert_clean()


def test_a_reader_with_a_reviewers_tracking_link_sees_status_only(web):
    item = _rita_item()
    page = web.page()
    page.goto(item.get_absolute_url())
    expect(page.get_by_role("heading", level=1)).to_have_text("Your feedback")
    expect(page.get_by_text("Pending", exact=True)).to_be_visible()
    expect(page.locator(".restricted-feedback")).to_contain_text("only its status is shown")
    assert "48.7" not in page.content() and "CBRN" not in page.content()
    web.shot(page, "reader-restricted-tracking")
    assert web.fits_phone(page, "reader-restricted-tracking-phone")
    web.assert_clean()
