"""portal.accounts.backends: the session's user comes with its permissions (one query)."""

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission

from portal.accounts.backends import PortalModelBackend
from portal.lib import access
from tests.factories import UserFactory


@pytest.mark.parametrize("role", ["reviewer", "editor", "plain_user"])
def test_permissions_are_modelbackends_and_cost_no_query(
    db, request, role, django_assert_num_queries
):
    user = request.getfixturevalue(role)
    user.user_permissions.add(Permission.objects.get(codename="view_feedback"))
    expected = ModelBackend().get_all_permissions(ModelBackend().get_user(user.pk))
    with django_assert_num_queries(1):
        loaded = PortalModelBackend().get_user(user.pk)
        assert loaded.get_all_permissions() == expected
        assert loaded.get_user_permissions() == {"feedback.view_feedback"}
        assert loaded.has_perm("feedback.view_feedback")
        access.account_role(loaded)
    assert loaded == user


def test_a_revoked_role_counts_from_the_next_load(reviewer):
    assert PortalModelBackend().get_user(reviewer.pk).has_perm(access.SEE_RESTRICTED_FIGURES)
    reviewer.groups.clear()
    assert not PortalModelBackend().get_user(reviewer.pk).has_perm(access.SEE_RESTRICTED_FIGURES)


def test_superusers_inactive_and_unknown_users(db):
    boss = UserFactory(username="boss", is_superuser=True)
    assert PortalModelBackend().get_user(boss.pk).has_perm("auth.delete_group")
    gone = UserFactory(username="gone", is_active=False)
    gone.groups.add(Group.objects.get(name=access.group_name(access.REVIEWER)))
    assert PortalModelBackend().get_user(gone.pk) is None
    assert PortalModelBackend().get_user(10**9) is None
    assert PortalModelBackend().get_user("not a number") is None


def test_signed_in_sessions_use_it(reviewer_client):
    from django.contrib.auth import BACKEND_SESSION_KEY

    assert reviewer_client.session[BACKEND_SESSION_KEY] == (
        "portal.accounts.backends.PortalModelBackend"
    )
