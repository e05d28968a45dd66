"""Personal API tokens: created and revoked on the account page, stored hashed."""

import datetime
import re

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.utils import timezone

from portal.accounts import tokens
from portal.accounts.models import ApiToken
from tests.api.conftest import TokenClient, make_token
from tests.conftest import as_verified
from tests.factories import UserFactory


def create_on_page(client, name="nightly export", days="90"):
    return client.post("/accounts/tokens/", {"name": name, "lifetime_days": days})


def test_a_reviewer_creates_a_token_shown_once_and_stored_hashed(reviewer_client, reviewer):
    page = reviewer_client.get("/accounts/")
    assert "API tokens" in page.content.decode()
    response = create_on_page(reviewer_client)
    assert response.status_code == 200
    secret = re.search(r'id="new-api-token">([^<]+)<', response.content.decode()).group(1)
    token = ApiToken.objects.get()
    assert (token.user, token.name) == (reviewer, "nightly export")
    assert token.digest == tokens.digest(secret) and secret not in token.digest
    assert not ApiToken.objects.filter(digest__contains=secret[4:20]).exists()
    assert token.expires_at - timezone.now() > datetime.timedelta(days=89)
    # Shown once: the account page lists it by name and prefix only.
    listed = reviewer_client.get("/accounts/").content.decode()
    assert "nightly export" in listed and token.prefix in listed and secret not in listed
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    # It works, and records the day it was last used.
    assert TokenClient(secret).get("/api/v1/taxonomy").status_code == 200
    token.refresh_from_db()
    assert token.last_used_on == timezone.localdate()


def test_revoking_on_the_account_page_stops_the_token_at_once(reviewer_client, reviewer):
    token, raw = make_token(reviewer)
    assert TokenClient(raw).get("/api/v1/taxonomy").status_code == 200
    response = reviewer_client.post(f"/accounts/tokens/{token.pk}/revoke/")
    assert response.status_code == 302
    assert TokenClient(raw).get("/api/v1/taxonomy").status_code == 401
    assert "revoked" in reviewer_client.get("/accounts/").content.decode()


def test_no_one_revokes_anothers_token(reviewer_client, editor):
    token, raw = make_token(editor)
    reviewer_client.post(f"/accounts/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is None
    assert TokenClient(raw).get("/api/v1/taxonomy").status_code == 200


def test_users_without_a_role_get_no_tokens(plain_client, plain_user):
    assert "API tokens" not in plain_client.get("/accounts/").content.decode()
    assert create_on_page(plain_client).status_code == 403
    assert not ApiToken.objects.exists()


def test_signed_out_visitors_cannot_create_tokens(client, db):
    response = create_on_page(client)
    assert response.status_code == 302 and "/accounts/signin/" in response["Location"]
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    "data", [{"name": "", "lifetime_days": "90"}, {"name": "x", "lifetime_days": "7"}]
)
def test_bad_token_forms_are_refused(reviewer_client, data):
    assert reviewer_client.post("/accounts/tokens/", data).status_code == 400
    assert not ApiToken.objects.exists()


def test_creation_goes_through_one_function_that_needs_a_verified_session(reviewer):
    request = RequestFactory().post("/accounts/tokens/")
    with pytest.raises(PermissionDenied):
        tokens.token_create(request=None, name="x", lifetime_days=90)
    request.user = reviewer  # signed in, second factor not passed
    with pytest.raises(PermissionDenied):
        tokens.token_create(request=request, name="x", lifetime_days=90)
    request.user = as_verified(reviewer)
    token, raw = tokens.token_create(request=request, name="x", lifetime_days=30)
    assert raw.startswith(tokens.TOKEN_PREFIX) and len(raw) > 40


def test_at_most_a_few_active_tokens(reviewer):
    for i in range(tokens.MAX_ACTIVE_TOKENS):
        make_token(reviewer, name=f"t{i}")
    with pytest.raises(PermissionDenied):
        make_token(reviewer, name="one too many")


def test_expired_tokens_stop_working_on_the_hour(reviewer, monkeypatch):
    token, raw = make_token(reviewer, days=30)
    assert TokenClient(raw).get("/api/v1/taxonomy").status_code == 200
    later = timezone.now() + datetime.timedelta(days=30, seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert TokenClient(raw).get("/api/v1/taxonomy").status_code == 401


def test_a_token_request_costs_few_queries(reviewer, django_assert_max_num_queries):
    from tests.factories import CategoryFactory, MitigationFactory

    category = CategoryFactory(code="5.1.1")
    for i in range(30):
        MitigationFactory(code=f"Q{i}", category=category)
    _token, raw = make_token(reviewer)
    client = TokenClient(raw)
    client.get("/api/v1/mitigations")  # warms the permission cache and last-used date
    with django_assert_max_num_queries(15):
        assert client.get("/api/v1/mitigations?expand=figures,sources,related").status_code == 200
    with django_assert_max_num_queries(11):
        assert client.get("/api/v1/mitigations/Q3").status_code == 200


def test_a_token_does_not_sign_anyone_in(reviewer):
    _token, raw = make_token(reviewer)
    client = TokenClient(raw)
    client.get("/api/v1/taxonomy")
    assert "sessionid" not in client.cookies
    assert client.get("/accounts/").status_code == 302


def test_deleting_the_owner_deletes_the_tokens(db):
    user = UserFactory(username="gone", role="reviewer")
    make_token(user)
    user.delete()
    assert not ApiToken.objects.exists()
