"""Authentication backend: Django's ModelBackend, with the signed-in user and their
permissions read from the shared cache.

Every signed-in request loads the user (one query) and asks the access policy about their
permissions (two more queries with ModelBackend), which cost more than serving a cached
page. Here both come from the cache in one round trip, each entry stored with a *version*:

* the users version changes whenever a user is saved or deleted (sign-in, password change,
  deactivation, a profile edit), so a changed password or a deactivated account counts from
  the next request on, like with ModelBackend;
* the permissions version changes whenever anyone's groups or permissions, a group's
  permissions, a group or a permission change, and after migrations (roles are synced
  there), so a role granted or taken away counts from the next request on.

Versions are bumped at once and again when the transaction commits (a request reading in
between would keep the old state under the new version). Changes that bypass the ORM's
signals (raw SQL, `QuerySet.update()` on users or permissions) are seen when an entry
expires (TIMEOUT) or after `manage.py migrate`; `cache.clear()` forgets everything. If the
cache is unavailable, everything is read from the database as usual.
"""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save

USERS_VERSION = "portal:users-version"
PERMS_VERSION = "portal:perms-version"
TIMEOUT = 10 * 60


def _user_key(user_id) -> str:
    return f"portal:user:{user_id}"


def _perms_key(user_id) -> str:
    return f"portal:perms:{user_id}"


def _new_version(key):
    cache.set(key, secrets.token_hex(8), None)
    return cache.get(key)


def _bumper(key):
    def bump(**kwargs):
        _new_version(key)
        transaction.on_commit(lambda: _new_version(key))

    return bump


bump_users_version = _bumper(USERS_VERSION)
bump_permissions_version = _bumper(PERMS_VERSION)


class CachedPermissionsBackend(ModelBackend):
    def get_user(self, user_id):
        user_key, perms_key = _user_key(user_id), _perms_key(user_id)
        found = cache.get_many([USERS_VERSION, PERMS_VERSION, user_key, perms_key])
        version, entry = found.get(USERS_VERSION), found.get(user_key)
        if version is not None and entry is not None and entry[0] == version:
            user = entry[1]
        else:
            user = super().get_user(user_id)  # from the database; None if inactive
            if user is None:
                return None
            version = version or _new_version(USERS_VERSION)
            if version is not None:
                cache.set(user_key, (version, user), TIMEOUT)  # before any _perm_cache
        if not self.user_can_authenticate(user):
            return None
        perms = found.get(perms_key)
        if perms is not None and perms[:2] == (found.get(PERMS_VERSION), user.is_superuser):
            user._perm_cache = perms[2]
        return user

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            version = cache.get(PERMS_VERSION) or _new_version(PERMS_VERSION)
            perms = frozenset(super().get_all_permissions(user_obj))
            user_obj._perm_cache = perms
            if version is not None:
                entry = (version, user_obj.is_superuser, perms)
                cache.set(_perms_key(user_obj.pk), entry, TIMEOUT)
        return user_obj._perm_cache


def connect():
    User = get_user_model()
    for sender in (User,):
        uid = f"users-{sender._meta.label}"
        post_save.connect(bump_users_version, sender=sender, dispatch_uid=f"{uid}-save")
        post_delete.connect(bump_users_version, sender=sender, dispatch_uid=f"{uid}-del")
    for sender in (
        Group,
        Permission,
        User.groups.through,
        User.user_permissions.through,
        Group.permissions.through,
    ):
        uid = f"perms-{sender._meta.label}"
        post_save.connect(bump_permissions_version, sender=sender, dispatch_uid=f"{uid}-save")
        post_delete.connect(bump_permissions_version, sender=sender, dispatch_uid=f"{uid}-del")
        m2m_changed.connect(bump_permissions_version, sender=sender, dispatch_uid=f"{uid}-m2m")
    post_migrate.connect(bump_permissions_version, dispatch_uid="perms-migrate")
