import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings

from feedback.demo import create_demo_feedback


class Command(BaseCommand):
    help = (
        "Add demo feedback (a queue to work through, a reviewers' discussion) to the demo "
        "dataset; run after setup_demo (development only; idempotent)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG=False.")

    def handle(self, force, **options):
        if not (settings.DEBUG or force):
            raise CommandError("demo_feedback is for demos: DEBUG only.")
        # No "new feedback" mail for made-up items, and no task log lines for each of them.
        tasks_log = logging.getLogger("django.tasks")
        level = tasks_log.level
        tasks_log.setLevel(logging.WARNING)
        try:
            quiet = {"default": {"BACKEND": "django.core.mail.backends.dummy.EmailBackend"}}
            with override_settings(MAILERS=quiet):
                made = create_demo_feedback()
        finally:
            tasks_log.setLevel(level)
        self.stdout.write(f"Demo feedback: {made} items created.")
