"""Personal API tokens: creation, revocation, and the authentication the API asks for.

The API (mitigations/api) cannot import this app (it sits below it); settings wire
`API_TOKEN_AUTHENTICATOR` to `user_for_token`, like AUTHENTICATION_BACKENDS.
"""

import datetime
import hashlib
import secrets

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from portal.accounts.backends import PortalModelBackend
from portal.accounts.models import ApiToken
from portal.lib import access

TOKEN_PREFIX = "mpt_"  # noqa: S105 - not a secret: recognisable in logs and by secret scanners
LIFETIMES_DAYS = (30, 90, 365)
MAX_ACTIVE_TOKENS = 10
TOKEN_ROLES = (access.REVIEWER, access.EDITOR)
# The owner, read like a session's user (None if deactivated), on every request.
_users = PortalModelBackend()


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def may_have_tokens(user) -> bool:
    return access.role_of(user) in TOKEN_ROLES


def active_tokens(user, now=None):
    now = now or timezone.now()
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now)


def _require_session_for_tokens(request):
    """The one place a token may be refused for how the session was opened: only a session
    that passed the second factor creates tokens (a token then stands for both factors)."""
    if request is None or not request.user.is_authenticated:
        raise PermissionDenied("Sign in to create a token.")
    if not access.is_verified(request.user):
        raise PermissionDenied("Pass the second factor before creating a token.")


def token_create(*, request, name: str, lifetime_days: int) -> tuple[ApiToken, str]:
    """Create a token for the signed-in user; returns it and its secret (shown once)."""
    _require_session_for_tokens(request)
    user = request.user
    if not may_have_tokens(user):
        raise PermissionDenied("Only reviewers and editors can create API tokens.")
    if lifetime_days not in LIFETIMES_DAYS:
        raise ValueError("Unknown lifetime")
    name = " ".join(name.split())[:100]
    if not name:
        raise ValueError("A token needs a name")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        if active_tokens(user, now).select_for_update().count() >= MAX_ACTIVE_TOKENS:
            raise PermissionDenied(f"At most {MAX_ACTIVE_TOKENS} active tokens; revoke one first.")
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=raw[: len(TOKEN_PREFIX) + 4],
            digest=digest(raw),
            expires_at=now + datetime.timedelta(days=lifetime_days),
        )
    return token, raw


def token_revoke(*, user, token_id) -> bool:
    """Revoke one of the user's own tokens; False if they have no such active token."""
    return bool(
        ApiToken.objects.filter(pk=token_id, user=user, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


def user_for_token(raw: str):
    """The owner of an active token who still holds a token role, else None.

    The token, its owner and the owner's permissions are read from the database on every
    request, so revoking or expiring the token, deactivating the account or removing the
    role counts from the next request on."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    token = ApiToken.objects.filter(digest=digest(raw)).first()
    now = timezone.now()
    if token is None or not token.is_active(now):
        return None
    user = _users.get_user(token.user_id)  # None if deactivated
    if user is None:
        return None
    # Tokens are created only in sessions that passed the second factor (see
    # _require_session_for_tokens): a request carrying one acts as such a session.
    user.is_verified = lambda: True
    if not may_have_tokens(user):
        return None
    today = access.today(now)
    if token.last_used_on != today:
        ApiToken.objects.filter(pk=token.pk).update(last_used_on=today)
    return user
