"""Shared fixtures: a client per role, and the cache cleared around every test.

`reviewer_client` and `editor_client` are sessions that passed the second factor (as after
a real sign-in with a code); `unverified_reviewer_client` and `unverified_editor_client`
signed in with the password only, which the access policy treats as role-less."""

import pytest
from django.core.cache import cache

from tests.factories import UserFactory

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def reviewer(db):
    return UserFactory(username="rita-reviewer", role="reviewer")


@pytest.fixture
def editor(db):
    return UserFactory(username="eddie-editor", role="editor")


@pytest.fixture
def plain_user(db):
    return UserFactory(username="nora-norole")


def confirmed_device(user):
    """The account's authenticator-app device (created, confirmed, if it has none)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Test app", confirmed=True)


def verify_session(client, user):
    """Mark a signed-in test client's session as having passed the second factor."""
    from django_otp import DEVICE_ID_SESSION_KEY

    session = client.session
    session[DEVICE_ID_SESSION_KEY] = confirmed_device(user).persistent_id
    session.save()
    return client


def as_verified(user):
    """A user object as the second-factor middleware leaves it for a session that passed
    the second factor (for tests that call the policy without a request)."""
    user.is_verified = lambda: True
    return user


def _client_for(user, *, verified=True):
    from django.test import Client

    client = Client()
    if user is not None:
        client.force_login(user)
        if verified:
            verify_session(client, user)
    return client


@pytest.fixture
def reader_client(db):
    return _client_for(None)


@pytest.fixture
def plain_client(plain_user):
    return _client_for(plain_user)


@pytest.fixture
def reviewer_client(reviewer):
    return _client_for(reviewer)


@pytest.fixture
def editor_client(editor):
    return _client_for(editor)


@pytest.fixture
def unverified_reviewer_client(reviewer):
    """A reviewer signed in with the password who has not passed the second factor."""
    return _client_for(reviewer, verified=False)


@pytest.fixture
def unverified_editor_client(editor):
    return _client_for(editor, verified=False)


ROLES = ["reader", "plain", "reviewer", "editor"]


@pytest.fixture(params=ROLES)
def role_client(request):
    """(role name, client) for each of the four kinds of visitor."""
    name = request.param
    return name, request.getfixturevalue(f"{name}_client")
