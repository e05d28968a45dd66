from django.conf import settings

from portal.lib import access
from portal.lib.page_cache import fresh_value


def portal(request):
    role = access.role_of(getattr(request, "user", None))
    context = {
        "SITE_NAME": settings.SITE_NAME,
        "portal_role": role,
        "portal_role_label": access.ROLE_LABELS.get(role, ""),
        "is_editor": role == access.EDITOR,
    }
    if getattr(request, "_rendering_for_cache", False):
        # Overrides the built-in csrf processor: the cached page gets a marker instead.
        context["csrf_token"] = fresh_value(request, "csrf")
    return context
