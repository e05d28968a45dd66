"""The admin site: Django's, open only to staff in a session that passed the second factor
(the access policy decides: `access.may_use_admin`)."""

from urllib.parse import urlencode

from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse

from portal.lib import access


class PortalAdminSite(admin.AdminSite):
    site_header = "Mitigation portal administration"
    site_title = "Mitigation portal admin"

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
