from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = "Feedback"

    def ready(self):
        # Registers the per-request "feedback_stamp" value with the page cache.
        # Imported once the registry is ready (they import models): Django's idiom.
        from feedback import antispam, outdated  # noqa: F401

        outdated.connect()  # "page changed since" on feedback when its page changes
