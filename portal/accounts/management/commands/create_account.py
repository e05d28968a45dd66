import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import URLValidator, validate_email
from django.db import transaction
from django.urls import reverse

from portal.accounts.models import Invitation
from portal.lib import access


class Command(BaseCommand):
    help = (
        "Create or update an account with a role, and print a setup link (single use, "
        "expiring after INVITATION_HOURS) with which its owner sets the password and then the "
        "second factor. With PORTAL_ACCOUNT_PASSWORD set, that password is set as well (for "
        "scripts); the second factor is still set up at the first sign-in."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=sorted(access.ROLES))
        parser.add_argument("--email", default=None)
        parser.add_argument(
            "--base-url",
            default=None,
            help="Address of the site for the link [SITE_URL, else http://127.0.0.1:8000]",
        )

    def handle(self, username, role, email, base_url, **options):
        if email is not None:
            try:
                validate_email(email)
            except ValidationError as exc:
                raise CommandError(f"--email: {exc.messages[0]}") from exc
        base_url = (base_url or settings.SITE_URL or "http://127.0.0.1:8000").rstrip("/")
        try:
            URLValidator(schemes=["http", "https"])(base_url)
        except ValidationError as exc:
            raise CommandError(f"--base-url: {exc.messages[0]}") from exc
        with transaction.atomic():
            User = get_user_model()
            user, created = User.objects.get_or_create(username=username)
            password = os.environ.get("PORTAL_ACCOUNT_PASSWORD") or None
            if password is not None:
                user.set_password(password)
            elif created:
                user.set_unusable_password()  # set with the link
            if email is not None:
                user.email = email
            user.is_staff = role in access.STAFF_ROLES
            user.is_active = True
            user.save()
            user.groups.remove(
                *Group.objects.filter(name__in=[access.group_name(r) for r in access.ROLES])
            )
            user.groups.add(Group.objects.get(name=access.group_name(role)))
            _, token = Invitation.issue(user, email=user.email)
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} {role} account {username!r}.")
        self.stdout.write(
            f"Setup link (works once, for {settings.INVITATION_HOURS} hours; sets the password, "
            "then the second factor):"
        )
        self.stdout.write(f"  {base_url}{reverse('invitation', args=[token])}")
