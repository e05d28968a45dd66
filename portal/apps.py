from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"


class PortalAdminConfig(admin_apps.AdminConfig):
    """Django's admin on a site that requires the second factor (portal/admin_site.py)."""

    default = False  # "portal" itself is PortalConfig
    default_site = "portal.admin_site.PortalAdminSite"
