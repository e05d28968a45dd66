"""The second factor (TOTP and recovery codes, django-otp) and invitations (setup links).

An account with a role signs in with its password, then its code; until then the session is
role-less. Wrong codes count in the sign-in limits; malformed ones are a form error."""

import re
from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.accounts import second_factor
from portal.accounts.models import Invitation
from portal.lib import access
from tests.conftest import PASSWORD, confirmed_device
from tests.factories import FigureFactory, MitigationFactory, UserFactory

pytestmark = pytest.mark.django_db

SIGNIN, VERIFY, SETUP = (
    "/accounts/signin/",
    "/accounts/second-factor/",
    "/accounts/second-factor/setup/",
)


def password_step(client, user, next_url=""):
    return client.post(SIGNIN, {"username": user.username, "password": PASSWORD, "next": next_url})


def sign_in(client, user, next_url=""):
    """Password, then a real code computed from the account's device."""
    response = password_step(client, user, next_url)
    assert response.status_code == 302 and response["Location"].startswith(VERIFY)
    code = second_factor.fresh_code(confirmed_device(user))
    return client.post(response["Location"], {"code": code})


@pytest.fixture
def restricted_page(db):
    page = MitigationFactory(code="M300", name="Guarded page")
    FigureFactory(mitigation=page, key="prelim", label="Prelimlabel", value=12.5, preliminary=True)
    return page


def test_role_of_an_unverified_session_is_reader(reviewer):
    reviewer.is_verified = lambda: False
    assert access.account_role(reviewer) == access.REVIEWER
    assert access.role_of(reviewer) == access.READER
    assert not access.can_see_restricted_figures(reviewer)
    reviewer.is_verified = lambda: True
    assert access.role_of(reviewer) == access.REVIEWER


def test_a_user_object_without_a_session_is_not_verified(reviewer, editor):
    """Loaded from the database (a task, a mail): fails closed; mail recipients use the
    account's role."""
    assert access.role_of(reviewer) == access.READER
    assert not access.can_moderate(editor)
    assert access.account_can_moderate(editor)


def test_reviewer_signs_in_with_password_then_code(client, reviewer, restricted_page):
    confirmed_device(reviewer)
    response = password_step(client, reviewer, restricted_page.get_absolute_url())
    assert response["Location"] == f"{VERIFY}?next=%2Fmitigations%2F{restricted_page.slug}%2F"
    # Password only: role-less.
    assert "Prelimlabel" not in client.get(restricted_page.get_absolute_url()).content.decode()
    assert "Enter your code" in client.get(response["Location"]).content.decode()
    code = second_factor.fresh_code(confirmed_device(reviewer))
    done = client.post(response["Location"], {"code": code})
    assert done.status_code == 302 and done["Location"] == restricted_page.get_absolute_url()
    assert "Prelimlabel" in client.get(restricted_page.get_absolute_url()).content.decode()
    # The same code is not accepted twice (another session replaying it).
    other = Client()
    password_step(other, reviewer)
    replay = other.post(VERIFY, {"code": code})
    assert replay.status_code == 200
    assert "not right" in replay.content.decode()


def test_session_key_changes_when_the_second_factor_is_passed(client, reviewer):
    confirmed_device(reviewer)
    password_step(client, reviewer)
    before = client.cookies["sessionid"].value
    client.post(VERIFY, {"code": second_factor.fresh_code(confirmed_device(reviewer))})
    assert client.cookies["sessionid"].value != before


def test_account_without_role_needs_no_second_factor(client, plain_user):
    response = password_step(client, plain_user)
    assert response["Location"] == "/accounts/"
    assert client.get(VERIFY)["Location"] == "/accounts/"


def test_first_sign_in_sets_up_a_device_and_shows_recovery_codes_once(client, reviewer):
    response = password_step(client, reviewer)
    assert client.get(response["Location"])["Location"].startswith(SETUP)
    page = client.get(SETUP)
    body = page.content.decode()
    assert page.status_code == 200
    assert 'src="data:image/svg+xml' in body  # QR code made here, no script, no CDN
    assert "<script" not in body.split("<footer")[0].split("</nav>")[-1]
    device = TOTPDevice.objects.get(user=reviewer, confirmed=False)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', body).group(1)
    assert secret == second_factor.secret_text(device)
    # Reloading keeps the same secret (the phone may be slow to scan).
    assert secret in client.get(SETUP).content.decode()
    assert TOTPDevice.objects.filter(user=reviewer).count() == 1

    wrong = client.post(SETUP, {"code": "000000"})
    assert wrong.status_code == 200 and "That code is not right" in wrong.content.decode()
    done = client.post(SETUP, {"code": second_factor.fresh_code(device)})
    assert done.status_code == 200
    codes = re.findall(r"<li>([a-z2-7]{8})</li>", done.content.decode())
    assert len(codes) == 10
    assert set(codes) == set(StaticToken.objects.values_list("token", flat=True))
    device.refresh_from_db()
    assert device.confirmed
    assert access.role_of(client.get("/accounts/").wsgi_request.user) == access.REVIEWER
    # Set up once: the setup page now only leads to the code.
    assert client.get(SETUP)["Location"].startswith(VERIFY)


def test_recovery_code_works_once(client, reviewer):
    confirmed_device(reviewer)
    code = second_factor.new_recovery_codes(reviewer)[0]
    password_step(client, reviewer)
    assert client.post(VERIFY, {"code": code.upper()[:4] + "-" + code[4:]}).status_code == 302
    other = Client()
    password_step(other, reviewer)
    assert "not right" in other.post(VERIFY, {"code": code}).content.decode()
    assert second_factor.recovery_codes_left(reviewer) == 9


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abc", "x" * 500, "12\x0034", "١٢٣٤٥٦"])
def test_malformed_codes_are_a_form_error_not_counted(client, reviewer, code, monkeypatch):
    confirmed_device(reviewer)
    password_step(client, reviewer)
    counted = []
    monkeypatch.setattr("portal.accounts.limits.failed", lambda *a, **k: counted.append(a))
    response = client.post(VERIFY, {"code": code})
    assert response.status_code == 200  # the form again, with the field's error
    assert "invalid-feedback" in response.content.decode()  # the field's error
    assert counted == []


def test_wrong_codes_count_in_the_sign_in_limits(client, reviewer, settings):
    """The per-account throttle of the sign-in limits stops code guessing (and the right
    code is refused while it lasts)."""
    settings.SIGNIN_ACCOUNT_LIMIT = 3
    settings.EDITORS_EMAIL = []
    confirmed_device(reviewer)
    password_step(client, reviewer)
    answers = [client.post(VERIFY, {"code": f"{n:06d}"}) for n in range(3)]
    assert all("not right" in a.content.decode() for a in answers)
    refused = client.post(VERIFY, {"code": second_factor.fresh_code(confirmed_device(reviewer))})
    assert refused.status_code == 429
    assert 'data-signin-limit="account"' in refused.content.decode()
    assert not access.is_verified(client.get("/accounts/").wsgi_request.user)


def test_a_client_locked_out_for_passwords_cannot_try_codes(client, reviewer, settings):
    settings.SIGNIN_ADDRESS_LIMIT = 3
    confirmed_device(reviewer)
    password_step(client, reviewer)
    for n in range(3):
        Client().post(SIGNIN, {"username": f"someone{n}", "password": "wrong"})
    refused = client.post(VERIFY, {"code": second_factor.fresh_code(confirmed_device(reviewer))})
    assert refused.status_code == 429


def test_admin_requires_the_second_factor(unverified_editor_client, editor_client, editor):
    response = unverified_editor_client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    to_code = unverified_editor_client.get(response["Location"])
    assert to_code.status_code == 302 and to_code["Location"].startswith(VERIFY)
    assert "next=%2Fadmin%2F" in to_code["Location"]
    assert editor_client.get("/admin/").status_code == 200


def test_sign_in_to_the_admin_goes_through_the_code(client, editor):
    confirmed_device(editor)
    client.post(
        "/admin/login/?next=/admin/",
        {"username": editor.username, "password": PASSWORD, "next": "/admin/"},
    )
    assert client.get("/admin/").status_code == 302
    response = client.post(
        f"{VERIFY}?next=/admin/", {"code": second_factor.fresh_code(confirmed_device(editor))}
    )
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_next_off_site_is_ignored(client, reviewer):
    confirmed_device(reviewer)
    password_step(client, reviewer)
    response = client.post(
        f"{VERIFY}?next=https://evil.example/",
        {"code": second_factor.fresh_code(confirmed_device(reviewer))},
    )
    assert response["Location"] == "/accounts/"


# --- Editors reset a reviewer's second factor ---------------------------------------------


def test_editor_resets_a_reviewers_second_factor(editor_client, editor, reviewer):
    reviewer_session = Client()
    reviewer_session.force_login(reviewer)
    from tests.conftest import verify_session

    verify_session(reviewer_session, reviewer)
    second_factor.new_recovery_codes(reviewer)
    assert access.role_of(reviewer_session.get("/accounts/").wsgi_request.user) == "reviewer"

    changelist = editor_client.get("/admin/auth/user/")
    assert changelist.status_code == 200
    assert "Reset second factor" in changelist.content.decode()
    response = editor_client.post(
        "/admin/auth/user/",
        {"action": "reset_second_factor", "_selected_action": [reviewer.pk]},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=reviewer).exists()
    assert second_factor.recovery_codes_left(reviewer) == 0
    entry = LogEntry.objects.get(object_id=str(reviewer.pk))
    assert entry.user == editor and "Reset the second factor" in entry.get_change_message()
    # The reviewer's current session lost its role at once; the next sign-in sets up anew.
    assert access.role_of(reviewer_session.get("/accounts/").wsgi_request.user) == "reader"
    assert reviewer_session.get(VERIFY)["Location"].startswith(SETUP)


def test_editor_cannot_reset_another_editor(editor_client, db):
    other = UserFactory(username="other-editor", role="editor")
    confirmed_device(other)
    editor_client.post(
        "/admin/auth/user/", {"action": "reset_second_factor", "_selected_action": [other.pk]}
    )
    assert TOTPDevice.objects.filter(user=other).exists()


def test_editors_cannot_change_accounts(editor_client, reviewer):
    assert editor_client.get(f"/admin/auth/user/{reviewer.pk}/change/").status_code == 200
    response = editor_client.post(
        f"/admin/auth/user/{reviewer.pk}/change/",
        {"username": reviewer.username, "is_superuser": "on"},
    )
    assert response.status_code == 403


def test_reviewer_cannot_reset(reviewer_client, editor):
    confirmed_device(editor)
    response = reviewer_client.post(
        "/admin/auth/user/", {"action": "reset_second_factor", "_selected_action": [editor.pk]}
    )
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert TOTPDevice.objects.filter(user=editor).exists()


# --- Invitations ------------------------------------------------------------------------------

INVITE = "/admin/accounts/invitation/add/"


def _link_from_mail():
    body = mail.outbox[-1].body
    return re.search(r"http://testserver(/accounts/welcome/[^/\s]+/)", body).group(1)


def test_editor_invites_a_reviewer_who_sets_password_and_second_factor(
    editor_client, editor, restricted_page, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(INVITE, {"email": "new@example.org", "username": "newbie"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new@example.org"]
    link = _link_from_mail()
    invitation = Invitation.objects.get(user__username="newbie")
    assert invitation.invited_by == editor
    assert invitation.expires_at - invitation.created_at == timedelta(hours=72)
    assert LogEntry.objects.filter(user=editor, object_id=str(invitation.pk)).exists()
    newbie = invitation.user
    assert not newbie.has_usable_password()
    assert access.account_role(newbie) == access.REVIEWER

    visitor = Client()
    to_form = visitor.get(link)
    assert to_form.status_code == 302 and to_form["Location"] == "/accounts/welcome/set-password/"
    assert "Welcome" in visitor.get(to_form["Location"]).content.decode()
    weak = visitor.post(to_form["Location"], {"new_password1": "abc", "new_password2": "abc"})
    assert weak.status_code == 200 and "too short" in weak.content.decode()
    good = "a-long-new-reviewer-password"
    done = visitor.post(to_form["Location"], {"new_password1": good, "new_password2": good})
    assert done.status_code == 302 and done["Location"].startswith(VERIFY)
    assert visitor.get(done["Location"])["Location"].startswith(SETUP)
    visitor.get(SETUP)
    device = TOTPDevice.objects.get(user=newbie)
    assert visitor.post(SETUP, {"code": second_factor.fresh_code(device)}).status_code == 200
    assert "Prelimlabel" in visitor.get(restricted_page.get_absolute_url()).content.decode()

    # Used: a clear page, nothing changes.
    newbie.refresh_from_db()
    hashed = newbie.password
    again = Client().get(link)
    assert again.status_code == 410 and "used already" in again.content.decode()
    newbie.refresh_from_db()
    assert newbie.password == hashed


def test_expired_and_unknown_links(reviewer):
    invitation, token = Invitation.issue(reviewer)
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    hashed = reviewer.password
    response = Client().get(f"/accounts/welcome/{token}/")
    assert response.status_code == 410 and "expired" in response.content.decode()
    for bad in ("nope", "x" * 300, "%00", "..%2F"):
        assert Client().get(f"/accounts/welcome/{bad}/").status_code in (400, 404)
    assert Client().get("/accounts/welcome/set-password/").status_code == 404
    reviewer.refresh_from_db()
    assert reviewer.password == hashed


def test_a_link_expires_between_opening_and_posting(reviewer):
    invitation, token = Invitation.issue(reviewer)
    visitor = Client()
    visitor.get(f"/accounts/welcome/{token}/")
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now())
    response = visitor.post(
        "/accounts/welcome/set-password/",
        {"new_password1": "a-long-new-password-1", "new_password2": "a-long-new-password-1"},
    )
    assert response.status_code == 410
    reviewer.refresh_from_db()
    assert reviewer.check_password(PASSWORD)


def test_a_newer_link_replaces_the_older(reviewer):
    _, first = Invitation.issue(reviewer)
    _, second = Invitation.issue(reviewer)
    assert Client().get(f"/accounts/welcome/{first}/").status_code == 410
    assert Client().get(f"/accounts/welcome/{second}/").status_code == 302


@pytest.mark.parametrize(
    "data",
    [
        {"email": "not-an-address", "username": "x"},
        {"email": "a@example.org", "username": "bad name/with slash"},
        {"email": "a@example.org", "username": "rita-reviewer"},
        {"email": "rita-reviewer@example.org", "username": "someone"},
        {"email": "a@example.org\x00", "username": "nul\x00"},
        {},
    ],
)
def test_invite_bad_input_is_a_form_error(editor_client, reviewer, data):
    response = editor_client.post(INVITE, data)
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert mail.outbox == []
    assert not Invitation.objects.exists()


def test_reviewers_cannot_invite(reviewer_client, unverified_editor_client):
    assert reviewer_client.get(INVITE).status_code == 302
    assert unverified_editor_client.get(INVITE).status_code == 302


# --- Commands ---------------------------------------------------------------------------------


def test_create_account_prints_a_setup_link(capsys, monkeypatch):
    monkeypatch.delenv("PORTAL_ACCOUNT_PASSWORD", raising=False)
    call_command("create_account", "alice", "--role", "reviewer", "--base-url", "https://p.example")
    out = capsys.readouterr().out
    path = re.search(r"https://p\.example(/accounts/welcome/\S+/)", out).group(1)
    visitor = Client()
    assert visitor.get(path).status_code == 302
    pw = "a-long-new-password-2"
    response = visitor.post(
        "/accounts/welcome/set-password/", {"new_password1": pw, "new_password2": pw}
    )
    assert response["Location"].startswith(VERIFY)


def test_demo_accounts_have_known_totp_secrets(settings, capsys):
    settings.DEBUG = True
    call_command("setup_demo")
    out = capsys.readouterr().out
    assert "TOTP secret: " in out and "manage.py totp_code reviewer" in out
    call_command("totp_code", "reviewer")
    code = capsys.readouterr().out.strip()
    assert re.fullmatch(r"\d{6}", code)
    client = Client()
    client.post(SIGNIN, {"username": "reviewer", "password": "review-the-data"})
    assert client.post(VERIFY, {"code": code})["Location"] == "/accounts/"
    settings.DEBUG = False
    with pytest.raises(Exception, match="DEBUG only"):
        call_command("totp_code", "reviewer")


def test_new_recovery_codes_only_in_a_verified_session(
    reviewer_client, unverified_reviewer_client, reviewer
):
    old = second_factor.new_recovery_codes(reviewer)
    assert (
        unverified_reviewer_client.post("/accounts/second-factor/recovery-codes/").status_code
        == 302
    )
    assert set(StaticToken.objects.values_list("token", flat=True)) == set(old)
    page = reviewer_client.get("/accounts/").content.decode()
    assert "Recovery codes left: 10" in page
    response = reviewer_client.post("/accounts/second-factor/recovery-codes/")
    new = re.findall(r"<li>([a-z2-7]{8})</li>", response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert reviewer_client.get("/accounts/second-factor/recovery-codes/").status_code == 302


def test_unverified_account_page_says_how_to_finish(unverified_reviewer_client):
    page = unverified_reviewer_client.get("/accounts/").content.decode()
    assert "signed in without your role" in page and "/accounts/second-factor/" in page
