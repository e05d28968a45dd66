"""Accounts' own rows: personal API tokens, and invitations.

API tokens: a reviewer's or editor's scripts read the API with their role.

Invitations: single-use, expiring links that let a new (or reset) account set its
password, and then its second factor. An editor's invitation from the admin mails one;
`create_account` prints one.

Only a hash of the link's secret is stored: the database (or a backup of it) cannot be used
to accept an invitation.
"""

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


def token_hash(token: str) -> str:
    return hashlib.sha256(str(token).encode("utf-8", "replace")).hexdigest()


class InvitationQuerySet(models.QuerySet):
    def for_token(self, token: str):
        """The invitation a link's secret names (used or not, expired or not), or None."""
        if not token or len(token) > 100:
            return None
        return self.filter(token_hash=token_hash(token)).select_related("user").first()


class Invitation(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(blank=True, help_text="Where the link was mailed (if it was).")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        permissions = [("reset_second_factor", "Can reset a reviewer's second factor")]

    def __str__(self):
        return f"Invitation for {self.user.get_username()}"

    @classmethod
    def issue(cls, user, *, email="", invited_by=None, hours=None):
        """A new invitation for `user`; returns (invitation, token). Earlier unused links
        of the account stop working (only the newest one counts)."""
        hours = settings.INVITATION_HOURS if hours is None else hours
        now = timezone.now()
        cls.objects.filter(user=user, used_at__isnull=True).update(expires_at=now)
        token = secrets.token_urlsafe(32)
        invitation = cls.objects.create(
            user=user,
            email=email,
            token_hash=token_hash(token),
            invited_by=invited_by,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
        return invitation, token

    @property
    def state(self) -> str:
        """'valid', 'used' or 'expired'."""
        if self.used_at is not None:
            return "used"
        if self.expires_at <= timezone.now() or not self.user.is_active:
            return "expired"
        return "valid"


class ApiToken(models.Model):
    """A token is shown once when created; only its SHA-256 digest is stored.

    It acts with its owner's current role (portal/accounts/tokens.py), so it is worth
    nothing once the owner loses the role, is deactivated, or the token expires or is
    revoked."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'weekly report'")
    prefix = models.CharField(
        max_length=12, help_text="The token's first characters, to tell it apart"
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_on = models.DateField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"
        indexes = [models.Index(fields=["user", "revoked_at"], name="apitoken_user_active")]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def is_active(self, now) -> bool:
        return self.revoked_at is None and self.expires_at > now
