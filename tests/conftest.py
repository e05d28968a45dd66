"""Shared fixtures: a client per role, and the cache cleared around every test."""

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


def _client_for(user):
    from django.test import Client

    client = Client()
    if user is not None:
        client.force_login(user)
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


ROLES = ["reader", "plain", "reviewer", "editor"]


@pytest.fixture(params=ROLES)
def role_client(request):
    """(role name, client) for each of the four kinds of visitor."""
    name = request.param
    return name, request.getfixturevalue(f"{name}_client")
