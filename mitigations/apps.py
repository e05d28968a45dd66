from django.apps import AppConfig


class MitigationsConfig(AppConfig):
    name = "mitigations"
    verbose_name = "Mitigation catalogue"

    def ready(self):
        # Models exist only once the registry is ready: Django's idiom for ready().
        from mitigations import models, page_dates
        from portal.lib.page_cache import connect_invalidation

        connect_invalidation(
            models.TaxonomyCategory,
            models.LifecycleStage,
            models.Actor,
            models.RmfFunction,
            models.SourceDocument,
            models.Mitigation,
            models.Figure,
        )
        page_dates.connect()
