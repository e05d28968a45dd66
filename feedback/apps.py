from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "feedback"
    verbose_name = "Feedback"

    def ready(self):
        # Registers the per-request "feedback_stamp" value with the page cache.
        from feedback import antispam, page  # noqa: F401

        page.connect()  # the reviewers' thread's version, for cached pages
