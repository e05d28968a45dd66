from django.apps import AppConfig


class MitigationsConfig(AppConfig):
    name = "mitigations"
    verbose_name = "Mitigation catalogue"

    def ready(self):
        from mitigations import models
        from portal.caching import connect_invalidation

        connect_invalidation(
            models.TaxonomyCategory,
            models.LifecycleStage,
            models.Actor,
            models.RmfFunction,
            models.SourceDocument,
            models.Mitigation,
            models.Figure,
        )
