"""The portal's main journeys in a real browser: reader, reviewer and editor."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from feedback.models import Feedback
from mitigations.models import Mitigation
from tests.factories import FeedbackFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# A1429 "Unlearning" is being polished and all six of its figures are preliminary
# (data/demo/figures.csv): readers must not get any of them.
PAGE_CODE = "A1429"
PAGE_NAME = "Unlearning"
RESTRICTED_VALUES = ["31.6%", "22.4%", "48.7%", "19.7%", "34.2%", "9.2%"]
RESTRICTED_LABEL = "Experts rating it effective — CBRN"
HIDDEN_NOTICE = "6 preliminary figures are available to signed-in reviewers"
DO_NOT_CITE = "Preliminary data — do not share or cite."
POLISHING = "This page is still being polished."


def detail_path(code=PAGE_CODE):
    return Mitigation.objects.get(code=code).get_absolute_url()


def assert_no_restricted_figures(page):
    main = page.get_by_role("main")
    text = main.inner_text()
    for value in RESTRICTED_VALUES:
        assert value not in text
    assert RESTRICTED_LABEL not in page.content()
    expect(main.get_by_role("table")).to_have_count(0)
    expect(main.get_by_role("img", name=re.compile("Bar chart"))).to_have_count(0)


def send_feedback(page, *, section, kind, comment):
    form = page.locator("#feedback form.feedback-form")
    form.get_by_label("Which part is it about?").select_option(label=section)
    form.get_by_label("What kind of feedback is it?").select_option(label=kind)
    form.get_by_label("Your feedback").fill(comment)
    form.get_by_role("button", name="Send feedback").click()


def test_reader_finds_a_page_and_follows_their_feedback(web):
    page = web.page()
    page.goto("/")
    web.shot(page, "reader-home")

    # Search from the header, then narrow down with the filter panel.
    header = page.get_by_role("banner")
    header.get_by_role("searchbox", name="Search mitigations").fill("unlearning")
    header.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/mitigations/\?q=unlearning"))
    expect(page.get_by_role("link", name=PAGE_NAME, exact=True)).to_be_visible()

    filters = page.get_by_role("form", name="Filter mitigations")
    expect(filters.get_by_label("Search")).to_have_value("unlearning")
    filters.get_by_label("Page status").select_option(label="Still being polished")
    filters.get_by_label("Lifecycle stage").select_option(label="Build and Use Model")
    filters.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"status=polishing"))
    expect(page).to_have_url(re.compile(r"lifecycle=build-and-use-model"))
    chip = page.get_by_role("link", name="Remove filter Page status: Still being polished")
    expect(chip).to_be_visible()
    expect(page.locator(".mitigation-card")).to_have_count(1)
    web.shot(page, "reader-list-filtered")

    # The page: polishing banner, no figure values, a notice instead.
    page.get_by_role("link", name=PAGE_NAME, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(PAGE_NAME)
    banner = page.locator(".status-banner")
    expect(banner).to_contain_text(POLISHING)
    expect(page.get_by_text(HIDDEN_NOTICE)).to_be_visible()
    assert_no_restricted_figures(page)
    web.shot(page, "reader-detail")

    # The banner's link leads to the form on the same page.
    banner.get_by_role("link", name="Tell us in the feedback form").click()
    expect(page).to_have_url(re.compile(r"#feedback$"))
    expect(page.locator("#feedback")).to_be_in_viewport()

    # An empty comment is refused with a message; then the feedback goes through.
    page.locator("#feedback").get_by_role("button", name="Send feedback").click()
    expect(page.get_by_role("alert")).to_contain_text("Your feedback was not sent yet.")
    expect(page.get_by_label("Your feedback")).to_have_attribute("aria-invalid", "true")
    web.shot(page, "reader-form-errors")
    send_feedback(
        page,
        section="Definition",
        kind="Something is wrong",
        comment="The definition should say that unlearning is applied after training.",
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your feedback")
    web.shot(page, "reader-thanks")
    item = Feedback.objects.get()
    assert item.mitigation.code == PAGE_CODE and item.status == Feedback.Status.PENDING
    assert item.user is None

    # The private tracking link.
    tracking = page.locator("a.tracking-link")
    expect(tracking).to_have_attribute("href", item.get_absolute_url())
    tracking.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your feedback")
    expect(page.get_by_text("The definition should say that unlearning")).to_be_visible()
    expect(page.get_by_text("No reply yet.")).to_be_visible()
    web.shot(page, "reader-tracking")
    for value in RESTRICTED_VALUES:
        assert value not in page.content()

    # Back on the page from the tracking page: still no figure values for a reader.
    page.get_by_role("link", name=f"{PAGE_CODE} {PAGE_NAME}").click()
    expect(page.get_by_text(HIDDEN_NOTICE)).to_be_visible()
    assert_no_restricted_figures(page)
    web.assert_clean()


def test_reviewer_signs_in_from_the_notice_and_joins_the_discussion(web):
    mitigation = Mitigation.objects.get(code=PAGE_CODE)
    editor = get_user_model().objects.get(username="editor")
    FeedbackFactory(
        mitigation=mitigation,
        user=UserFactory(username="rita", first_name="Rita", last_name="Reviewer", role="reviewer"),
        by_reviewer=True,
        section=Feedback.Section.FIGURES,
        kind=Feedback.Kind.SUGGESTION,
        comment="The CBRN figure looks high next to the other risk areas.",
        status=Feedback.Status.APPROVED,
        public_reply="Thanks: we are re-checking the CBRN responses before publication.",
        moderated_by=editor,
    )
    FeedbackFactory(
        mitigation=mitigation,
        user=get_user_model().objects.get(username="editor"),
        by_reviewer=True,
        status=Feedback.Status.REJECTED,
        comment="Rejected feedback is not part of the discussion.",
    )

    page = web.page()
    page.goto(detail_path())
    page.get_by_role("link", name="Sign in as a reviewer").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    web.shot(page, "reader-signin")
    web.sign_in(page, "reviewer")

    # Back on the same page, now with the figures, the chart and the do-not-cite notice.
    expect(page).to_have_url(re.compile(re.escape(detail_path()) + "$"))
    expect(page.get_by_role("button", name=re.compile("reviewer"))).to_contain_text("Reviewer")
    expect(page.locator(".notice-restricted")).to_contain_text(DO_NOT_CITE)
    expect(page.get_by_text(HIDDEN_NOTICE)).to_have_count(0)
    table = page.get_by_role("table", name=re.compile("Figures for this mitigation"))
    expect(table.get_by_role("row")).to_have_count(7)
    cbrn = table.get_by_role("row", name=re.compile(RESTRICTED_LABEL))
    expect(cbrn).to_contain_text("48.7%")
    expect(cbrn).to_contain_text("Preliminary")
    for value in RESTRICTED_VALUES:
        expect(table).to_contain_text(value)
    chart = page.get_by_role("img", name="Bar chart of the percentage figures")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.bar-preliminary")).to_have_count(6)

    # The reviewers' discussion: reviewers' feedback (not rejected) and the editors' reply.
    thread = page.locator(".feedback-thread")
    expect(thread.get_by_role("heading", name="Reviewers' discussion")).to_be_visible()
    expect(thread.get_by_role("article")).to_have_count(1)
    expect(thread).to_contain_text("Rita Reviewer")
    expect(thread).to_contain_text("The CBRN figure looks high")
    expect(thread).to_contain_text("Editors' reply")
    expect(thread).to_contain_text("we are re-checking the CBRN responses")
    expect(page.get_by_text("Rejected feedback is not part of the discussion.")).to_have_count(0)
    web.shot(page, "reviewer-detail")

    send_feedback(
        page,
        section="Figures",
        kind="Suggestion",
        comment="Please add the sample size per risk area to the chart.",
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for your feedback")
    item = Feedback.objects.get(comment__startswith="Please add the sample size")
    assert item.user.username == "reviewer" and item.by_reviewer
    assert item.section == Feedback.Section.FIGURES and item.status == Feedback.Status.PENDING
    web.assert_clean()


def test_editor_moderates_the_queue_in_the_admin(web):
    mitigation = Mitigation.objects.get(code=PAGE_CODE)
    from_reader = FeedbackFactory(
        mitigation=mitigation,
        comment="The definition should mention when unlearning is applied.",
        name="Ada",
    )
    from_reviewer = FeedbackFactory(
        mitigation=mitigation,
        user=get_user_model().objects.get(username="reviewer"),
        by_reviewer=True,
        section=Feedback.Section.FIGURES,
        comment="The chart needs the sample size per risk area.",
    )
    FeedbackFactory(
        mitigation=mitigation,
        comment="An older note that was already approved.",
        status=Feedback.Status.APPROVED,
    )

    page = web.page()
    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/"))
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill("edit-the-data")
    page.get_by_role("button", name="Log in").click()
    web.enter_code(page, "editor")  # the admin requires the second factor
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

    # The queue: pending first, filtered to pending.
    page.get_by_role("rowheader", name="Feedback", exact=True).get_by_role("link").click()
    expect(page.get_by_role("navigation", name="Feedback presets")).to_contain_text("Pending 2")
    page.locator("#changelist-filter").get_by_role("link", name="Pending").click()
    expect(page).to_have_url(re.compile(r"status__exact=pending"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    web.shot(page, "editor-admin-queue")

    # Approve the reviewer's item with the bulk action.
    rows.filter(has_text="The chart needs the sample size").get_by_role("checkbox").check()
    page.get_by_role("combobox", name="Action").select_option(label="Approve selected feedback")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".messagelist")).to_contain_text("1 feedback item approved.")

    # Mark the reader's item as addressed, with a public reply on the intermediate page.
    rows.filter(has_text="The definition should mention").get_by_role("checkbox").check()
    action = page.get_by_role("combobox", name="Action")
    action.select_option(label="Mark as addressed, with a public reply…")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("heading", name="Mark feedback as addressed")).to_be_visible()
    expect(page.get_by_role("main")).to_contain_text("The definition should mention")
    page.get_by_label("Public reply").fill("Thank you: the definition now says it.")
    web.shot(page, "editor-admin-reply")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".messagelist")).to_contain_text("1 feedback item marked as addressed.")
    web.shot(page, "editor-admin-queue-after")

    from_reader.refresh_from_db()
    from_reviewer.refresh_from_db()
    assert from_reviewer.status == Feedback.Status.APPROVED
    assert from_reviewer.moderated_by.username == "editor"
    assert from_reader.resolution == Feedback.Resolution.ADDRESSED
    assert from_reader.public_reply == "Thank you: the definition now says it."

    # The submitter's private link (no account needed) shows the reply.
    reader = web.page()
    reader.goto(from_reader.get_absolute_url())
    expect(reader.get_by_role("heading", level=1)).to_have_text("Your feedback")
    expect(reader.locator("dl")).to_contain_text("Addressed")
    expect(reader.locator(".reply")).to_have_text("Thank you: the definition now says it.")
    web.assert_clean()


def totp_from_secret(secret_text, when=None):
    """What an authenticator app shows for a secret typed from the setup page."""
    import base64
    import time

    from django_otp.oath import TOTP

    b32 = secret_text.replace(" ", "")
    key = base64.b32decode(b32 + "=" * (-len(b32) % 8))
    totp = TOTP(key)
    totp.time = time.time() if when is None else when
    return f"{totp.token():06d}"


def test_editor_invites_a_reviewer_who_sets_up_the_second_factor(web, mailoutbox):
    """An editor invites by email from the admin; the link sets the password, then the
    authenticator app (secret typed from the page), the recovery codes are shown once, and
    the new reviewer sees preliminary figures. The used link then only says so."""
    editor = web.page()
    editor.goto("/accounts/signin/?next=/admin/accounts/invitation/add/")
    web.sign_in(editor, "editor")
    expect(editor.get_by_role("heading", level=1)).to_have_text("Invite a reviewer")
    editor.get_by_label("Email address").fill("newreviewer@example.org")
    editor.get_by_label("Username").fill("newreviewer")
    editor.get_by_role("button", name="Send invitation").click()
    expect(editor.locator(".messagelist")).to_contain_text("Invitation sent to")
    link = re.search(r"https?://\S+/accounts/welcome/\S+/", mailoutbox[-1].body).group(0)

    invitee = web.page()
    invitee.goto(link)
    expect(invitee.get_by_role("heading", level=1)).to_have_text("Welcome: choose a password")
    assert "/welcome/set-password/" in invitee.url  # the secret left the address bar
    invitee.locator("#id_new_password1").fill("a-long-reviewer-passphrase")
    invitee.locator("#id_new_password2").fill("a-long-reviewer-passphrase")
    invitee.get_by_role("button", name="Set password and continue").click()
    expect(invitee.get_by_role("heading", level=1)).to_have_text("Set up your second factor")
    expect(invitee.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    web.axe(invitee, "second-factor-setup")
    web.shot(invitee, "second-factor-setup")
    invitee.get_by_label("Code").fill("12345")  # malformed: a form error
    invitee.get_by_role("button", name="Confirm").click()
    expect(invitee.locator(".invalid-feedback")).to_contain_text("Enter the 6 digits")
    secret = invitee.locator("#totp-secret").inner_text()
    invitee.get_by_label("Code").fill(totp_from_secret(secret))
    invitee.get_by_role("button", name="Confirm").click()
    expect(invitee.get_by_role("heading", level=1)).to_have_text("Your recovery codes")
    expect(invitee.locator("#recovery-codes li")).to_have_count(10)
    invitee.get_by_role("link", name="Continue").click()
    expect(invitee.get_by_role("heading", level=1)).to_have_text("My account")
    invitee.goto(detail_path())
    expect(invitee.locator(".notice-restricted")).to_contain_text(DO_NOT_CITE)

    again = web.page()
    again.goto(link)
    expect(again.get_by_role("heading", level=1)).to_have_text("This link was used already")
    # That page is answered 410 Gone on purpose, which the browser logs as a failed load.
    web.console_errors[:] = [e for e in web.console_errors if "(Gone)" not in e]
    web.assert_clean()
