"""The signed-in user's account page (role, their own feedback, their API tokens), and
password reset with rate limits."""

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from feedback.models import Feedback, Reply, ReplyMail
from mitigations.models import FigureView, Mitigation
from mitigations.views import with_restricted_summaries
from portal.accounts import limits, tokens
from portal.lib import access

REVIEW_LIST_LIMIT = 50


def _review_lists(user):
    """ "Pages awaiting your review" (restricted figures the user has neither viewed nor
    commented on) and "Embargoes lifting soon": only for those who see restricted figures."""
    if not access.can_filter_restricted(user):
        return {}
    pages = Mitigation.objects.visible_to(user)
    viewed = FigureView.objects.filter(user=user).values("mitigation")
    commented = Feedback.objects.of_user(user).exclude(mitigation=None).values("mitigation")
    replied = Reply.objects.filter(user=user).values("feedback__mitigation")
    awaiting = (
        pages.with_restricted_figures()
        .exclude(pk__in=viewed)
        .exclude(pk__in=commented)
        .exclude(pk__in=replied)
        .for_list()
        .order_by("name")
    )
    lifting = pages.embargo_lifting_soon().select_related("category")
    return {
        "show_review_lists": True,
        "awaiting_review": with_restricted_summaries(awaiting[:REVIEW_LIST_LIMIT], user),
        "awaiting_total": awaiting.count(),
        "lifting_soon": with_restricted_summaries(lifting[:REVIEW_LIST_LIMIT], user),
        "lifting_days": access.LIFTING_SOON_DAYS,
    }


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, label="Token name", help_text="What it is for")
    lifetime_days = forms.TypedChoiceField(
        label="Expires after",
        coerce=int,
        choices=[(d, f"{d} days") for d in tokens.LIFETIMES_DAYS],
        initial=90,
    )


def _account_page(request, *, token_form=None, new_token=None, status=200):
    items = list(
        Feedback.objects.of_user(request.user)
        .select_related("mitigation")
        .order_by("-created_at")[:200]
    )
    may_have_tokens = tokens.may_have_tokens(request.user)
    for item in items:  # a restricted item's reply only while the user may read it
        item.show_text = access.can_read_feedback_text(item, request.user)
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
            **_review_lists(request.user),
            "can_reply": access.can_reply(request.user),
            "reply_mail_on": ReplyMail.objects.filter(user=request.user, enabled=True).exists(),
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
