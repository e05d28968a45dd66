"""The signed-in user's account page (role and their own feedback), and password reset with
rate limits."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from feedback.models import Feedback
from portal.accounts import limits
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


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, limited per client and per email address typed
    (PASSWORD_RESET_LIMITS). Over a limit no mail is sent, and the answer is the same
    redirect to the same "sent" page: it tells nothing about limits or accounts."""

    def form_valid(self, form):
        if not limits.password_reset_allowed(self.request, form.cleaned_data["email"]):
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)
