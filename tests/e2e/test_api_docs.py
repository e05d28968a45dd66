"""The API's documentation page under the site's CSP, and tokens on the account page."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e


def test_a_reviewer_creates_a_token_and_tries_the_api_in_the_docs(web):
    page = web.page()
    page.goto("/accounts/signin/")
    web.sign_in(page, "reviewer")
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    page.get_by_label("Token name").fill("weekly report")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-api-token")
    expect(token).to_contain_text("mpt_")
    web.axe(page, "reviewer-account-tokens")
    web.shot(page, "reviewer-account-tokens")
    expect(page.get_by_role("cell", name="weekly report", exact=True)).to_be_visible()

    page.goto("/api/v1/docs")
    expect(page.get_by_role("heading", name="API documentation")).to_be_visible()
    operation = page.locator("#operations-mitigations-list_mitigations")
    expect(operation).to_be_visible()
    operation.locator(".opblock-summary").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    expect(page.locator(".live-responses-table tbody .response-col_status").first).to_contain_text(
        "200"
    )
    expect(page.locator(".live-responses-table")).to_contain_text('"count"')
    web.shot(page, "api-docs")
    web.assert_clean()
