from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = "Feedback"

    def ready(self):
        # Registers the per-request "feedback_stamp" value with the page cache.
        # Imported once the registry is ready (they import models): Django's idiom.
        from feedback import antispam, page_context  # noqa: F401

        page_context.connect()  # the reviewers' thread's version, for cached pages
