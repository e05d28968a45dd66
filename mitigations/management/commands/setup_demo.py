import base64

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from mitigations.importer import import_dataset
from portal.lib import access

DEMO_ACCOUNTS = [
    # username, role, password: for local demos only (the command refuses to run in production)
    ("reviewer", access.REVIEWER, "review-the-data"),
    ("editor", access.EDITOR, "edit-the-data"),
]
# The demo accounts' second factor: authenticator-app devices with fixed, published secrets
# (20 bytes each, hex as django-otp stores them). Demo only, like the passwords.
DEMO_TOTP_KEYS = {
    "reviewer": b"demo-reviewer-totp!!".hex(),
    "editor": b"demo-editor-totp!!!!".hex(),
}


def secret_text(hex_key: str) -> str:
    """A TOTP key as authenticator apps take it typed: base32."""
    return base64.b32encode(bytes.fromhex(hex_key)).decode("ascii").rstrip("=")


class Command(BaseCommand):
    help = "Load the demo dataset and create the demo accounts (development only; idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG=False.")

    def handle(self, force, **options):
        if not (settings.DEBUG or force):
            raise CommandError("setup_demo creates accounts with known passwords: DEBUG only.")
        report = import_dataset(settings.BASE_DIR / "data" / "demo")
        changed = sum(c.created + c.updated for c in report.counts.values())
        self.stdout.write(f"Demo data: {changed} rows created or updated.")
        with transaction.atomic():
            User = get_user_model()
            for username, role, password in DEMO_ACCOUNTS:
                user, _ = User.objects.get_or_create(
                    username=username, defaults={"email": f"{username}@example.org"}
                )
                if not user.check_password(password):
                    user.set_password(password)
                user.is_staff = role in access.STAFF_ROLES
                user.save()
                user.groups.set([Group.objects.get(name=access.group_name(role))])
                # Exactly one confirmed device with the known secret (a reset in the admin
                # is undone by the next `make run`).
                key = DEMO_TOTP_KEYS[username]
                TOTPDevice.objects.filter(user=user).exclude(key=key).delete()
                TOTPDevice.objects.get_or_create(
                    user=user,
                    key=key,
                    defaults={"name": "Demo authenticator", "confirmed": True},
                )
                TOTPDevice.objects.filter(user=user).update(confirmed=True)
        self.stdout.write(
            "Demo accounts (sign in at /accounts/signin/, then enter the account's current "
            "6-digit code: add the TOTP secret to an authenticator app, or print the code with "
            "the command shown):"
        )
        for username, role, password in DEMO_ACCOUNTS:
            self.stdout.write(
                f"  {role:<9} username: {username:<9} password: {password:<16} "
                f"TOTP secret: {secret_text(DEMO_TOTP_KEYS[username])}"
            )
            self.stdout.write(
                f"            code: DEBUG=true .venv/bin/python manage.py totp_code {username}"
            )
