"""Keyboard only: Tab, Shift+Tab, Enter, Space and typing; focus always visible."""

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from feedback.models import Feedback
from portal.accounts import second_factor

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FOCUSED = """
() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName.toLowerCase(),
    id: el.id,
    name: el.getAttribute("name") || "",
    text: (el.innerText || el.value || el.getAttribute("aria-label") || "").trim().slice(0, 60),
    inMain: !!el.closest("main"),
    outlineStyle: style.outlineStyle,
    outlineWidth: style.outlineWidth,
  };
}
"""


def focused(page):
    return page.evaluate(FOCUSED)


def assert_focus_visible(element):
    assert element["outlineStyle"] != "none" and element["outlineWidth"] not in ("0px", ""), (
        f"no visible focus outline on {element}"
    )


def tab_to(page, matches, *, backwards=False, limit=60):
    """Press Tab (or Shift+Tab) until the focused element matches; every stop shows focus."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
        element = focused(page)
        stops.append(f"{element['tag']}#{element['id']} {element['text']!r}")
        if element["tag"] != "body":
            assert_focus_visible(element)
        if matches(element):
            return element
    raise AssertionError("never reached the element; focus went through:\n" + "\n".join(stops))


def by_id(id_):
    return lambda e: e["id"] == id_


def by_text(text):
    return lambda e: e["text"] == text


def test_keyboard_only_visitor(web):
    page = web.page()
    page.goto("/")

    # The first Tab reaches the skip link, which becomes visible; Enter moves focus to main.
    page.keyboard.press("Tab")
    skip = focused(page)
    assert skip["text"] == "Skip to main content"
    assert_focus_visible(skip)
    expect(page.get_by_role("link", name="Skip to main content")).to_be_in_viewport()
    page.keyboard.press("Enter")
    assert focused(page)["id"] == "main"
    assert tab_to(page, lambda e: True)["inMain"], "the next Tab stays in the main content"

    # Sign in with the keyboard.
    tab_to(page, by_text("Sign in"), backwards=True)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    tab_to(page, by_id("id_username"))
    page.keyboard.type("reviewer")
    page.keyboard.press("Tab")
    page.keyboard.type("review-the-data")
    page.keyboard.press("Enter")
    # The second factor: the code field has the focus; type the app's code, Enter.
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    assert focused(page)["id"] == "id_code"
    device = TOTPDevice.objects.get(user__username="reviewer", confirmed=True)
    page.keyboard.type(second_factor.fresh_code(device))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/$"))

    # The account menu: Enter opens it, Tab walks into it, Enter follows an item.
    tab_to(page, by_id("account-menu"))
    menu = page.locator("#account-menu + .dropdown-menu")
    expect(menu).to_be_hidden()
    page.keyboard.press("Enter")
    expect(menu).to_be_visible()
    expect(page.locator("#account-menu")).to_have_attribute("aria-expanded", "true")
    tab_to(page, by_text("My account & feedback"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("My account")

    # The filter form: typing in the search box and in a select, Space on Apply.
    tab_to(page, by_text("Mitigations"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mitigations")
    tab_to(page, by_id("filter-q"))
    page.keyboard.type("evaluation")
    tab_to(page, by_id("filter-status"))
    page.keyboard.type("Still")
    expect(page.locator("#filter-status")).to_have_value("polishing")
    tab_to(page, by_text("Apply"))
    page.keyboard.press("Space")
    expect(page).to_have_url(re.compile(r"q=evaluation.*status=polishing"))
    expect(page.get_by_role("link", name="Alignment evaluations", exact=True)).to_be_visible()

    # A result, then its banner link to the feedback form.
    tab_to(page, by_text("Alignment evaluations"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Alignment evaluations")
    tab_to(page, by_text("Tell us in the feedback form"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#feedback$"))

    # The feedback form: the next Tab starts in it. Choosing a classification disagreement
    # shows the category field.
    assert tab_to(page, lambda e: True)["id"] == "fb-section"
    page.keyboard.type("Reasoning")
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "fb-kind"
    page.keyboard.type("I disagree")
    expect(page.locator("#fb-proposed_category")).to_be_visible()
    page.keyboard.press("Tab")
    assert focused(page)["id"] == "fb-proposed_category"
    page.keyboard.type("2.2.2")
    tab_to(page, by_id("fb-comment"))
    page.keyboard.type("This is testing, so 2.2.2 Testing & Evaluation fits better.")
    tab_to(page, by_id("fb-contact_consent"))
    page.keyboard.press("Space")
    expect(page.locator("#fb-contact_consent")).to_be_checked()
    tab_to(page, by_text("Send feedback"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your feedback")

    item = Feedback.objects.get()
    assert item.mitigation.name == "Alignment evaluations"
    assert item.user.username == "reviewer" and item.contact_consent
    assert item.section == Feedback.Section.REASONING
    assert item.kind == Feedback.Kind.CLASSIFICATION
    assert item.proposed_category.code == "2.2.2"
    web.assert_clean()
