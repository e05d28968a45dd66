"""The signed-in user's account page (role, their own feedback, their API tokens), sign-in
with the second factor, invitations (setup links), and password reset with rate limits."""

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from feedback.models import Feedback, Reply, ReplyMail
from mitigations.models import FigureView, Mitigation
from mitigations.views import with_restricted_summaries
from portal.accounts import limits, second_factor, tokens
from portal.accounts.forms import CodeForm
from portal.accounts.models import Invitation
from portal.lib import access

INVITATION_SESSION_KEY = "_invitation_token"
# The backend an accepted invitation signs in with (the one that loads users).
SESSION_BACKEND = "portal.accounts.backends.PortalModelBackend"
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
    user = request.user
    may_have_tokens = tokens.may_have_tokens(user)
    for item in items:  # a restricted item's reply only while the user may read it
        item.show_text = access.can_read_feedback_text(item, user)
    return render(
        request,
        "registration/account.html",
        {
            "feedback_items": items,
            "role_label": access.ROLE_LABELS.get(access.role_of(user)),
            "needs_second_factor": access.needs_second_factor(user),
            "second_factor_passed": access.is_verified(user),
            "recovery_codes_left": (
                second_factor.recovery_codes_left(user) if access.is_verified(user) else None
            ),
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


# --- Sign-in and the second factor -----------------------------------------------------------


def _next_url(request) -> str:
    """Where to go once signed in: a `next` on this site, else the account page."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(settings.LOGIN_REDIRECT_URL)


def _with_next(name: str, next_url: str) -> str:
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


def _second_factor_pending(user) -> bool:
    return access.needs_second_factor(user) and not access.is_verified(user)


def _queue_url() -> str:
    return reverse("admin:feedback_feedback_changelist") + "?status__exact=pending"


def _greet(request, url: str) -> None:
    """An editor landing on the moderation queue is told how much is pending."""
    if url != _queue_url() or not access.can_moderate(request.user):
        return
    pending = Feedback.objects.pending().count()
    messages.info(request, f"{pending} feedback item{'s' if pending != 1 else ''} pending.")


class SignInView(auth_views.LoginView):
    """Django's sign-in (axes and the sign-in limits check the password), then, for an
    account with a role, the second factor: a signed-in session that has not passed it is
    treated as role-less (portal/lib/access.py). Editors without a page to go back to land
    on the moderation queue once they have passed it."""

    redirect_authenticated_user = True

    def get_default_redirect_url(self):
        # Where to go, not what may be seen: the session has not passed the second factor
        # yet, so ask the account (the admin itself still requires a verified session).
        if access.account_can_moderate(self.request.user):
            return _queue_url()
        return super().get_default_redirect_url()

    def get_success_url(self):
        url = super().get_success_url()
        if _second_factor_pending(self.request.user):
            return _with_next("second_factor", url)
        _greet(self.request, url)
        return url


def _code_refusal(request, username):
    """A 429 page if codes must not be tried now: the password limits (a client locked out
    for spraying, a throttled account) and the codes' own count both apply."""
    refusal = limits.check(request, username, kind="password") or limits.check(
        request, username, kind="code"
    )
    if refusal is None:
        return None
    request.signin_refusal = refusal
    return limits.lockout_response(request)


def _passed(request, device, next_url):
    second_factor.mark_verified(request, device)
    request.session.cycle_key()  # a new session key for the now privileged session
    return next_url


@sensitive_post_parameters("code")
@never_cache
@login_required
def verify(request):
    """Ask an account with a role for its code (or a recovery code)."""
    user, next_url = request.user, _next_url(request)
    if not _second_factor_pending(user):
        return redirect(next_url)
    if not second_factor.has_device(user):
        return redirect(_with_next("second_factor_setup", next_url))
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        refused = _code_refusal(request, user.get_username())
        if refused is not None:
            return refused
        device = second_factor.verify(user, form.cleaned_data["code"])
        if device is None:
            limits.failed(request, user.get_username(), kind="code")
            form.add_error("code", "That code is not right, or it was used already.")
        else:
            limits.succeeded(request, user.get_username(), kind="code")
            _passed(request, device, next_url)
            _greet(request, next_url)
            return redirect(next_url)
    return render(
        request,
        "registration/second_factor.html",
        {"form": form, "next": next_url},
    )


@sensitive_post_parameters("code")
@never_cache
@login_required
def setup(request):
    """First sign-in of an account with a role (or after an editor reset its second factor):
    set up an authenticator app, then show the recovery codes once."""
    user, next_url = request.user, _next_url(request)
    if not access.needs_second_factor(user):
        return redirect(next_url)
    if second_factor.has_device(user):
        return redirect(_with_next("second_factor", next_url))
    device = second_factor.setup_device(user)
    form = CodeForm(request.POST if request.method == "POST" else None, recovery_allowed=False)
    if request.method == "POST" and form.is_valid():
        refused = _code_refusal(request, user.get_username())
        if refused is not None:
            return refused
        codes = second_factor.confirm(user, device, form.cleaned_data["code"])
        if codes is None:
            limits.failed(request, user.get_username(), kind="code")
            form.add_error(
                "code",
                "That code is not right. Check that the app added this account and that the "
                "phone's clock is set automatically, then enter the code it shows now.",
            )
        else:
            limits.succeeded(request, user.get_username(), kind="code")
            _passed(request, second_factor.app_device(user), next_url)
            return render(
                request,
                "registration/recovery_codes.html",
                {"codes": codes, "next": next_url},
            )
    return render(
        request,
        "registration/second_factor_setup.html",
        {
            "form": form,
            "next": next_url,
            "qr_uri": second_factor.qr_svg_data_uri(device),
            "secret": second_factor.secret_text(device),
        },
    )


@never_cache
@login_required
def new_recovery_codes(request):
    """A verified session may replace its recovery codes (the old ones stop working)."""
    if request.method != "POST" or _second_factor_pending(request.user):
        return redirect("account")
    if not access.needs_second_factor(request.user):
        return redirect("account")
    codes = second_factor.new_recovery_codes(request.user)
    return render(
        request,
        "registration/recovery_codes.html",
        {"codes": codes, "next": reverse("account")},
    )


# --- Invitations (setup links) ---------------------------------------------------------------


def _invalid_link(request, invitation):
    state = "unknown" if invitation is None else invitation.state
    return render(
        request,
        "registration/invitation_invalid.html",
        {"state": state, "hours": settings.INVITATION_HOURS},
        status=404 if state == "unknown" else 410,
    )


@never_cache
def invitation(request, token):
    """The link from the mail: checked, then kept in the session and the browser sent on
    to a URL without the secret (like Django's password reset), so that the secret does not
    leak through the Referer header or the address bar."""
    found = Invitation.objects.for_token(token)
    if found is None or found.state != "valid":
        return _invalid_link(request, found)
    request.session[INVITATION_SESSION_KEY] = token
    return redirect("invitation_password")


@sensitive_post_parameters()
@never_cache
def invitation_password(request):
    token = request.session.get(INVITATION_SESSION_KEY, "")
    found = Invitation.objects.for_token(token)
    if found is None or found.state != "valid":
        return _invalid_link(request, found)
    form = SetPasswordForm(found.user, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            locked = Invitation.objects.select_for_update().get(pk=found.pk)
            if locked.state != "valid":  # used in another tab meanwhile
                return _invalid_link(request, locked)
            user = form.save()
            locked.used_at = timezone.now()
            locked.save(update_fields=["used_at"])
        request.session.pop(INVITATION_SESSION_KEY, None)
        login(request, user, backend=SESSION_BACKEND)
        return redirect(_with_next("second_factor", reverse(settings.LOGIN_REDIRECT_URL)))
    return render(
        request,
        "registration/invitation_password.html",
        {"form": form, "account": found.user},
    )


# --- Password reset --------------------------------------------------------------------------


class PasswordResetView(auth_views.PasswordResetView):
    """Django's password reset, limited per client and per email address typed
    (PASSWORD_RESET_LIMITS). Over a limit no mail is sent, and the answer is the same
    redirect to the same "sent" page: it tells nothing about limits or accounts."""

    def form_valid(self, form):
        if not limits.password_reset_allowed(self.request, form.cleaned_data["email"]):
            return HttpResponseRedirect(self.get_success_url())
        return super().form_valid(form)
