from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from portal.accounts import second_factor


class Command(BaseCommand):
    help = (
        "Print the current second-factor code of an account's authenticator-app device "
        "(development only: the demo accounts' devices have known secrets)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG=False.")

    def handle(self, username, force, **options):
        if not (settings.DEBUG or force):
            raise CommandError("totp_code prints a sign-in secret: DEBUG only.")
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No account {username!r}.")
        device = second_factor.app_device(user)
        if device is None:
            raise CommandError(f"{username!r} has no second factor set up yet.")
        self.stdout.write(second_factor.fresh_code(device, wait=True))
