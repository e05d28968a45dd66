"""The editors' queue in a real browser at 1366 px: 50 decisions by keyboard alone, timed,
each stored with the editor in history; the change form decision first."""

import re
import time

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from feedback.models import Feedback
from mitigations.models import Mitigation
from tests.factories import FeedbackFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTH = 1366
DECISIONS = 50
KEYS = {"a": "approved", "r": "rejected", "s": "spam"}


def sign_in_admin(web, page, next_path):
    page.goto(f"/admin/login/?next={next_path}")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill("edit-the-data")
    page.get_by_role("button", name="Log in").click()
    web.enter_code(page, "editor")  # the admin requires the second factor


def test_fifty_decisions_by_keyboard_alone(web):
    pages = list(Mitigation.objects.order_by("code")[:10])
    items = [
        FeedbackFactory(
            mitigation=pages[i % len(pages)],
            comment=f"Keyboard item {i:02d}: the definition misses a step. " * (1 + i % 4),
        )
        for i in range(DECISIONS + 5)
    ]
    editor = get_user_model().objects.get(username="editor")

    page = web.page(width=WIDTH, height=900)
    sign_in_admin(web, page, "/admin/feedback/feedback/%3Fstatus__exact%3Dpending")
    expect(page.locator("#result_list")).to_be_visible()
    expect(page.locator("html[data-fb-queue=ready]")).to_have_count(1)  # shortcuts bound
    # Help is one key away, and announced.
    page.keyboard.press("?")
    expect(page.locator("#fb-help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#fb-help")).to_be_hidden()
    web.shot(page, "editor-queue-1366")
    web.axe(page, "editor-queue")

    # j/k move the selection and the screen reader hears which item it is.
    page.keyboard.press("j")
    expect(page.locator("#result_list tbody tr").nth(1)).to_have_class(re.compile("fb-current"))
    expect(page.locator("#fb-live")).to_contain_text("Item 2 of")
    page.keyboard.press("k")
    expect(page.locator("#result_list tbody tr").nth(0)).to_have_class(re.compile("fb-current"))

    decided = {}
    keys = list(KEYS)
    started = time.monotonic()
    for n in range(DECISIONS):
        row = page.locator("#result_list tbody tr.fb-current")
        pk = int(row.locator("th.field-item a").inner_text().lstrip("#"))
        key = keys[n % len(keys)]
        with page.expect_navigation():
            page.keyboard.press(key)
        decided[pk] = KEYS[key]
        expect(page.locator(".messagelist")).to_contain_text(f"Feedback #{pk}")
        expect(page.locator("html[data-fb-queue=ready]")).to_have_count(1)
    seconds = time.monotonic() - started
    print(
        f"\n{DECISIONS} decisions by keyboard in {seconds:.1f} s ({seconds / DECISIONS:.2f} s each)"
    )

    assert len(decided) == DECISIONS
    stored = {f.pk: f for f in Feedback.objects.filter(pk__in=decided)}
    for pk, status in decided.items():
        item = stored[pk]
        assert item.status == status, pk
        assert item.moderated_by == editor
        assert item.history.latest().history_user == editor
    left = Feedback.objects.filter(pk__in=[i.pk for i in items], status="pending").count()
    assert left == len(items) - DECISIONS
    expect(page.locator("#fb-live")).not_to_be_empty()

    # Open the selected item with "o": the change form, decision first.
    with page.expect_navigation():
        page.keyboard.press("o")
    expect(page.get_by_role("button", name="Save and next pending")).to_be_visible()
    web.shot(page, "editor-item-1366")
    web.axe(page, "editor-item")
    comment = page.locator(".fb-comment-full").bounding_box()
    status = page.locator("#id_status").bounding_box()
    details = page.get_by_text("IP hash", exact=False).first
    assert comment["y"] < status["y"]
    assert not details.is_visible()  # folded
    web.assert_clean()
