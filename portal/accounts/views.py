"""The signed-in user's account page: role and their own feedback."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from feedback.models import Feedback
from portal.lib import access


@never_cache
@login_required
def account(request):
    items = (
        Feedback.objects.of_user(request.user)
        .select_related("mitigation")
        .order_by("-created_at")[:200]
    )
    return render(
        request,
        "registration/account.html",
        {
            "feedback_items": items,
            "role_label": access.ROLE_LABELS.get(access.role_of(request.user)),
        },
    )
