from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        # Imported once the registry is ready (it imports auth models): Django's idiom.
        from portal.lib import cached_auth

        cached_auth.connect()
