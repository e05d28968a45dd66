"""Every key page, per role: axe-core (WCAG 2.x A/AA), 375 px wide, print, screenshots."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from feedback.models import Feedback
from mitigations.models import Mitigation
from tests.factories import FeedbackFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

POLISHING_PAGE = "A1429"  # being polished, six preliminary figures
DRAFT_PAGE = "A1441"  # a draft (editors only), with preliminary figures


def url(code):
    return Mitigation.objects.get(code=code).get_absolute_url()


def tracking_url():
    item = FeedbackFactory(
        mitigation=Mitigation.objects.get(code=POLISHING_PAGE),
        comment="The definition could say when unlearning is applied.\nAfter training?",
        status=Feedback.Status.APPROVED,
        resolution=Feedback.Resolution.ADDRESSED,
        public_reply="Thank you: the definition now says so.",
        moderated_by=get_user_model().objects.get(username="editor"),
    )
    return item.get_absolute_url()


def form_with_errors(page):
    page.goto(url(POLISHING_PAGE))
    page.locator("#feedback").get_by_role("button", name="Send feedback").click()
    expect(page.get_by_role("alert")).to_contain_text("Your feedback was not sent yet.")


# (name, how to get there, also run axe and take a screenshot at 375 px)
PAGES = {
    "reader": [
        ("home", "/", False),
        ("list", "/mitigations/", True),
        ("detail", lambda: url(POLISHING_PAGE), True),
        ("form-errors", form_with_errors, False),
        ("tracking", tracking_url, False),
        ("signin", "/accounts/signin/", False),
    ],
    "reviewer": [("detail", lambda: url(POLISHING_PAGE), True)],
    "editor": [
        ("detail", lambda: url(POLISHING_PAGE), False),
        ("detail-draft", lambda: url(DRAFT_PAGE), False),
    ],
}


@pytest.mark.parametrize("role", PAGES)
def test_key_pages_are_accessible_and_fit_a_phone(web, role):
    page = web.page()
    if role != "reader":
        page.goto("/accounts/signin/")
        web.sign_in(page, role)
        # Editors land on the moderation queue, others on their account page.
        landing = "Select feedback to change" if role == "editor" else "My account"
        expect(page.get_by_role("heading", level=1)).to_have_text(landing)
    for name, target, phone_too in PAGES[role]:
        label = f"{role}-{name}"
        page.set_viewport_size({"width": 1280, "height": 900})
        if callable(target) and target.__code__.co_argcount == 1:
            target(page)
        else:
            page.goto(target() if callable(target) else target)
        web.axe(page, label)
        web.shot(page, label)
        web.fits_phone(page, label)
        if phone_too:
            web.axe(page, f"{label}-375")
            web.shot(page, f"{label}-375")
    web.assert_clean()


def test_print_keeps_the_notices_and_drops_the_navigation(web):
    page = web.page()
    page.goto("/accounts/signin/")
    web.sign_in(page, "reviewer")
    page.goto(url(POLISHING_PAGE))
    page.emulate_media(media="print")
    expect(page.locator(".status-banner")).to_be_visible()
    expect(page.locator(".status-banner")).to_contain_text("This page is still being polished.")
    expect(page.locator(".notice-restricted")).to_be_visible()
    expect(page.locator(".notice-restricted")).to_contain_text("do not share or cite")
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    expect(page.get_by_role("banner")).to_be_hidden()
    expect(page.get_by_role("table", name="Figures for this mitigation")).to_be_visible()
    web.shot(page, "reviewer-detail-print")
    page.emulate_media(media="screen")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    web.assert_clean()
