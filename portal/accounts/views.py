"""The signed-in user's account page (role, their own feedback, their API tokens), and
password reset with rate limits."""

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from feedback.models import Feedback
from portal.accounts import limits, tokens
from portal.lib import access


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Token name", help_text="What it is for")
    lifetime_days = forms.TypedChoiceField(
        label="Expires after",
        coerce=int,
        choices=[(d, f"{d} days") for d in tokens.LIFETIMES_DAYS],
        initial=90,
    )


class SignInView(auth_views.LoginView):
    """Django's sign-in; editors without a page to go back to land on the moderation queue,
    told how much is pending."""

    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        user = self.request.user
        if not access.can_moderate(user):
            return super().get_default_redirect_url()
        pending = Feedback.objects.pending().count()
        messages.info(
            self.request,
            f"{pending} feedback item{'s' if pending != 1 else ''} pending.",
        )
        return reverse("admin:feedback_feedback_changelist") + "?status__exact=pending"


def _account_page(request, *, token_form=None, new_token=None, status=200):
    items = (
        Feedback.objects.of_user(request.user)
        .select_related("mitigation")
        .order_by("-created_at")[:200]
    )
    may_have_tokens = tokens.may_have_tokens(request.user)
    return render(
        request,
        "registration/account.html",
        {
            "feedback_items": items,
            "role_label": access.ROLE_LABELS.get(access.role_of(request.user)),
            "may_have_tokens": may_have_tokens,
            "api_tokens": request.user.api_tokens.all()[:50] if may_have_tokens else [],
            "token_form": token_form or TokenForm(),
            "new_token": new_token,
        },
        status=status,
    )


@never_cache
@login_required
def account(request):
    return _account_page(request)


@never_cache
@login_required
@require_POST
def token_create(request):
    """Create a token and show its secret on this response only (it is stored hashed)."""
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _account_page(request, token_form=form, status=400)
    try:
        token, raw = tokens.token_create(
            request=request,
            name=form.cleaned_data["name"],
            lifetime_days=form.cleaned_data["lifetime_days"],
        )
    except (PermissionDenied, ValueError) as exc:
        form.add_error(None, str(exc))
        return _account_page(request, token_form=form, status=403)
    return _account_page(request, new_token={"token": token, "secret": raw})


@never_cache
@login_required
@require_POST
def token_revoke(request, token_id):
    if tokens.token_revoke(user=request.user, token_id=token_id):
        messages.success(request, "The token was revoked. Scripts using it stop working now.")
    return redirect("account")


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, limited per client and per email address typed
    (PASSWORD_RESET_LIMITS). Over a limit no mail is sent, and the answer is the same
    redirect to the same "sent" page: it tells nothing about limits or accounts."""

    def form_valid(self, form):
        if not limits.password_reset_allowed(self.request, form.cleaned_data["email"]):
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)
