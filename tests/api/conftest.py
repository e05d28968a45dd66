"""API fixtures: a client per kind of caller, tokens made through the accounts service."""

import datetime

import pytest
from django.test import Client, RequestFactory
from django.utils import timezone

from portal.accounts import tokens
from tests.conftest import as_verified
from tests.factories import UserFactory
from tests.portal.test_access_matrix import world  # noqa: F401 (the canary catalogue)

CALLERS = ["anonymous", "roleless", "reviewer_token", "editor_token", "revoked", "expired"]
# What each caller may see (None: refused with 401).
SEES_RESTRICTED = {"reviewer_token", "editor_token"}
SEES_DRAFTS = {"editor_token"}
REFUSED = {"revoked", "expired"}


def make_token(user, name="script", days=90):
    request = RequestFactory().post("/accounts/tokens/")
    request.user = as_verified(user)  # tokens are made in sessions that passed the 2nd factor
    token, raw = tokens.token_create(request=request, name=name, lifetime_days=days)
    return token, raw


class TokenClient(Client):
    def __init__(self, raw, **kwargs):
        super().__init__(HTTP_AUTHORIZATION=f"Bearer {raw}", **kwargs)


@pytest.fixture
def token_reviewer(db):
    return UserFactory(username="tara-token-reviewer", role="reviewer")


@pytest.fixture
def token_editor(db):
    return UserFactory(username="ed-token-editor", role="editor")


@pytest.fixture
def reviewer_token(token_reviewer):
    return make_token(token_reviewer)


@pytest.fixture
def editor_token(token_editor):
    return make_token(token_editor)


@pytest.fixture
def caller(request, db):
    """(name, client) for each kind of API caller."""
    return request.param, client_for(request.param, request)


def client_for(name, request):
    if name == "anonymous":
        return Client()
    if name == "roleless":
        client = Client()
        client.force_login(UserFactory(username="rolf-roleless"))
        return client
    if name == "reviewer_token":
        return TokenClient(request.getfixturevalue("reviewer_token")[1])
    if name == "editor_token":
        return TokenClient(request.getfixturevalue("editor_token")[1])
    if name == "revoked":
        token, raw = make_token(UserFactory(username="rev-revoked", role="editor"))
        tokens.token_revoke(user=token.user, token_id=token.pk)
        return TokenClient(raw)
    if name == "expired":
        token, raw = make_token(UserFactory(username="exp-expired", role="editor"))
        token.expires_at = timezone.now() - datetime.timedelta(seconds=1)
        token.save()
        return TokenClient(raw)
    raise LookupError(name)
