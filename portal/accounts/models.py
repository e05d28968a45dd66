"""Personal API tokens: a reviewer's or editor's scripts read the API with their role."""

from django.conf import settings
from django.db import models


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
