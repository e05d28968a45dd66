"""The admin site: Django's, open only to staff in a session that passed the second factor
(the access policy decides: `access.may_use_admin`)."""

from urllib.parse import urlencode

from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from portal.lib import access


class PortalAdminSite(admin.AdminSite):
    site_header = "Mitigation portal administration"
    site_title = "Mitigation portal admin"

    def each_context(self, request):
        """Django's, with the app list built only when a page shows it (the sidebar and
        the index do; the feedback queue and its change form hide the sidebar): it asks
        every registered admin for its permissions. Otherwise AdminSite.each_context
        (tests/portal/test_admin_site.py compares the keys)."""
        script_name = request.META["SCRIPT_NAME"]
        site_url = script_name if self.site_url == "/" and script_name else self.site_url
        return {
            "site_title": self.site_title,
            "site_header": self.site_header,
            "site_url": site_url,
            "has_permission": self.has_permission(request),
            "available_apps": SimpleLazyObject(lambda: self.get_app_list(request)),
            "is_popup": False,
            "is_nav_sidebar_enabled": self.enable_nav_sidebar,
            "log_entries": self.get_log_entries(request),
        }

    def has_permission(self, request):
        return super().has_permission(request) and access.may_use_admin(request.user)

    def login(self, request, extra_context=None):
        """A signed-in account that still owes its second factor is sent to enter it (the
        admin's own form would only say "not authorised")."""
        user = request.user
        if (
            user.is_authenticated
            and access.needs_second_factor(user)
            and not access.is_verified(user)
        ):
            next_url = request.GET.get("next") or reverse("admin:index")
            return redirect(f"{reverse('second_factor')}?{urlencode({'next': next_url})}")
        return super().login(request, extra_context)
