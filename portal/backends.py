"""Authentication backend: Django's ModelBackend with each user's permissions in the cache.

Every signed-in request asks the access policy about the user's permissions; ModelBackend
answers with two queries per request (user permissions, group permissions), which cost more
than serving a cached page. Here the set is kept in the shared cache under the user's id,
stored with the *permissions version*. The version changes whenever anyone's groups or
permissions, a group's permissions, a group or a permission change (signals below, in every
process through the shared cache) and after migrations (roles are synced there), so a role
granted or taken away counts from the next request on. `is_active` and `is_superuser` come
from the user row, loaded on every request, and are part of the key.

If the cache is unavailable, the permissions are read from the database as usual.
"""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save

VERSION_KEY = "portal:perms-version"
TIMEOUT = 60 * 60


def _user_key(user) -> str:
    return f"portal:perms:{user.pk}:{int(user.is_superuser)}"


def _bump():
    cache.set(VERSION_KEY, secrets.token_hex(8), None)


def bump_permissions_version(**kwargs):
    """Now, and again when the transaction commits: a request that reads the permissions
    between the two would otherwise keep the old ones under the new version."""
    _bump()
    transaction.on_commit(_bump)


class CachedPermissionsBackend(ModelBackend):
    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            key = _user_key(user_obj)
            found = cache.get_many([VERSION_KEY, key])
            version = found.get(VERSION_KEY)
            entry = found.get(key)
            if version is not None and entry is not None and entry[0] == version:
                user_obj._perm_cache = entry[1]
            else:
                if version is None:
                    _bump()
                    version = cache.get(VERSION_KEY)
                perms = super().get_all_permissions(user_obj)
                if version is not None:
                    cache.set(key, (version, frozenset(perms)), TIMEOUT)
        return user_obj._perm_cache


def connect():
    User = get_user_model()
    senders = [
        Group,
        Permission,
        User.groups.through,
        User.user_permissions.through,
        Group.permissions.through,
    ]
    for sender in senders:
        uid = f"perms-{sender._meta.label}"
        post_save.connect(bump_permissions_version, sender=sender, dispatch_uid=f"{uid}-save")
        post_delete.connect(bump_permissions_version, sender=sender, dispatch_uid=f"{uid}-del")
        m2m_changed.connect(bump_permissions_version, sender=sender, dispatch_uid=f"{uid}-m2m")
    post_migrate.connect(bump_permissions_version, dispatch_uid="perms-migrate")
