from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "portal.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        # Connects the sign-in log once the registry is ready (Django's idiom for ready()).
        from portal.accounts import signals  # noqa: F401
