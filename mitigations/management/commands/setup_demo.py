from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from mitigations.importer import import_dataset
from portal.lib import access

DEMO_ACCOUNTS = [
    # username, role, password: for local demos only (the command refuses to run in production)
    ("reviewer", access.REVIEWER, "review-the-data"),
    ("editor", access.EDITOR, "edit-the-data"),
]


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
        self.stdout.write("Demo accounts (sign in at /accounts/signin/):")
        for username, role, password in DEMO_ACCOUNTS:
            self.stdout.write(f"  {role:<9} username: {username:<9} password: {password}")
