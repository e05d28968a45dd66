"""Shared by the role migrations: create missing permissions, then sync the role groups."""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions


def sync(apps, schema_editor):
    # Permissions are normally created after migrate; create them now so groups can use them.
    for app_config in global_apps.get_app_configs():
        original, app_config.models_module = app_config.models_module, True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = original
    from portal.lib.access import sync_roles

    sync_roles(apps)
