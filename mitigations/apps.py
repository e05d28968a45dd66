from django.apps import AppConfig


class MitigationsConfig(AppConfig):
    name = "mitigations"
    verbose_name = "Mitigation catalogue"

    def ready(self):
        # Models exist only once the registry is ready: Django's idiom for ready().
        from mitigations import invalidation, models, page_dates

        invalidation.connect(models.Mitigation)  # links; writes: mitigations/invalidation.py
        page_dates.connect()
