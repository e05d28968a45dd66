import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from portal.lib import access


class Command(BaseCommand):
    help = (
        "Create or update an account with a role. The password comes from "
        "PORTAL_ACCOUNT_PASSWORD, or is generated and printed."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=sorted(access.ROLES))
        parser.add_argument("--email", default=None)

    @transaction.atomic
    def handle(self, username, role, email, **options):
        if email is not None:
            try:
                validate_email(email)
            except ValidationError as exc:
                raise CommandError(f"--email: {exc.messages[0]}") from exc
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username)
        password = os.environ.get("PORTAL_ACCOUNT_PASSWORD") or None
        generated = False
        if password is None and created:
            password, generated = secrets.token_urlsafe(12), True
        if password is not None:
            user.set_password(password)
        if email is not None:
            user.email = email
        user.is_staff = role in access.STAFF_ROLES
        user.is_active = True
        user.save()
        user.groups.remove(
            *Group.objects.filter(name__in=[access.group_name(r) for r in access.ROLES])
        )
        user.groups.add(Group.objects.get(name=access.group_name(role)))
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} {role} account {username!r}.")
        if generated:
            self.stdout.write(f"Password: {password}")
