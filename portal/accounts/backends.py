"""The backend that loads a session's user: Django's ModelBackend, reading the account's
permissions in the same query as the account.

Every signed-in request asks the policy (portal/lib/access.py) for the user's role, which
asks `has_perm`; ModelBackend answers that with two more queries per request (the user's
own and their groups' permissions). Here the user row comes with both lists as two
aggregated subqueries, and ModelBackend's per-object caches are filled from them: the
same sets, read at the same moment as the account, so a role revoked counts from the next
request as before. Superusers (all permissions) and users loaded elsewhere take
ModelBackend's own path.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import F, OuterRef, StringAgg, Subquery, Value
from django.db.models.functions import Concat

from portal.lib.compiled import Compiled

_SEPARATOR = " "  # never in an app label or a permission codename


def _permissions(lookup, group_by):
    """The permissions reached through `lookup` (to the outer user) as one string."""
    name = Concat(F("content_type__app_label"), Value("."), F("codename"))
    return Subquery(
        Permission.objects.filter(**{lookup: OuterRef("pk")})
        .order_by()
        .values(group_by)
        .annotate(names=StringAgg(name, delimiter=Value(_SEPARATOR)))
        .values("names")
    )


def _split(names):
    return set(names.split(_SEPARATOR)) if names else set()


# The user-with-permissions query as SQL compiled once per process and database
# (portal/lib/compiled.py: the ORM's compiling of the two subqueries cost more than both
# queries it saves).
_user_with_permissions = Compiled(
    lambda user_id, _: (
        get_user_model()
        ._default_manager.annotate(
            _own_permissions=_permissions("user", "user"),
            _group_permissions=_permissions("group__user", "group__user"),
        )
        .filter(pk=user_id)
    )
)


class PortalModelBackend(ModelBackend):
    def get_user(self, user_id):
        User = get_user_model()
        try:
            user_id = User._meta.pk.to_python(user_id)
        except Exception:  # noqa: BLE001 - a malformed session value: nobody
            return None
        found = _user_with_permissions(user_id, using=User._default_manager.db)
        if not found:
            return None
        user = found[0]
        if not self.user_can_authenticate(user):
            return None
        if user.is_active and not user.is_superuser:
            user._user_perm_cache = _split(user._own_permissions)
            user._group_perm_cache = _split(user._group_permissions)
            user._perm_cache = user._user_perm_cache | user._group_perm_cache
        return user
