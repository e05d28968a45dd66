"""Accounts in the admin: editors invite reviewers (a mail with a setup link) and reset a
reviewer's second factor (logged in the admin's history)."""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.accounts import second_factor
from portal.accounts.forms import InviteForm
from portal.accounts.models import Invitation
from portal.lib import access

User = get_user_model()
RESET_PERMISSION = "accounts.reset_second_factor"


def send_invitation(request, user, token) -> int:
    link = request.build_absolute_uri(reverse("invitation", args=[token]))
    context = {
        "inviter": request.user.get_full_name() or request.user.get_username(),
        "site_name": settings.SITE_NAME,
        "username": user.get_username(),
        "link": link,
        "hours": settings.INVITATION_HOURS,
    }
    return EmailMessage(
        subject=f"[{settings.SITE_NAME}] You are invited to review",
        body=render_to_string("registration/email/invitation.txt", context),
        to=[user.email],
    ).send()


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class PortalUserAdmin(UserAdmin):
    list_display = (*UserAdmin.list_display, "second_factor")
    actions = ["reset_second_factor"]

    def get_queryset(self, request):
        devices = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(has_second_factor=Exists(devices))

    @admin.display(boolean=True, description="Second factor", ordering="has_second_factor")
    def second_factor(self, obj):
        return obj.has_second_factor

    def has_reset_second_factor_permission(self, request):
        return request.user.has_perm(RESET_PERMISSION)

    @admin.action(
        description="Reset second factor (they set it up again at their next sign-in)",
        permissions=["reset_second_factor"],
    )
    def reset_second_factor(self, request, queryset):
        done, refused = [], []
        for user in queryset:
            # Editors reset reviewers'; another editor's or a superuser's only a superuser.
            protected = user.is_superuser or access.account_role(user) == access.EDITOR
            if protected and not request.user.is_superuser:
                refused.append(user.get_username())
                continue
            with transaction.atomic():
                removed = second_factor.reset(user)
                self.log_change(
                    request,
                    user,
                    f"Reset the second factor ({removed} device(s) removed: authenticator app "
                    "and recovery codes).",
                )
            done.append(user.get_username())
        if done:
            self.message_user(
                request,
                f"Second factor reset for {', '.join(done)}: they set up a new one at their "
                "next sign-in; their current sessions lost their role.",
                messages.SUCCESS,
            )
        if refused:
            self.message_user(
                request,
                f"Not reset (editors' and superusers' only by a superuser): {', '.join(refused)}",
                messages.WARNING,
            )


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("user", "email", "invited_by", "created_at", "expires_at", "used_at", "state")
    list_select_related = ("user", "invited_by")
    search_fields = ("user__username", "email")
    readonly_fields = ("user", "email", "invited_by", "created_at", "expires_at", "used_at")

    @admin.display(description="State")
    def state(self, obj):
        return obj.state

    def has_change_permission(self, request, obj=None):
        return False

    def add_view(self, request, form_url="", extra_context=None):
        """Invite a reviewer: a new account (no password yet, the reviewer role) and a mail
        with a single-use link to set the password and then the second factor."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = InviteForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            with transaction.atomic():
                user = User(
                    username=form.cleaned_data["username"], email=form.cleaned_data["email"]
                )
                user.set_unusable_password()
                user.save()
                user.groups.add(Group.objects.get(name=access.group_name(access.REVIEWER)))
                invitation, token = Invitation.issue(
                    user, email=user.email, invited_by=request.user
                )
                self.log_addition(request, invitation, f"Invited {user.email} as a reviewer.")
                transaction.on_commit(lambda: send_invitation(request, user, token))
            self.message_user(
                request,
                f"Invitation sent to {user.email} (account {user.get_username()}, reviewer); "
                f"the link works once, for {settings.INVITATION_HOURS} hours.",
                messages.SUCCESS,
            )
            return redirect("admin:accounts_invitation_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Invite a reviewer",
            "form": form,
            "hours": settings.INVITATION_HOURS,
            "changelist_url": reverse("admin:accounts_invitation_changelist"),
            **(extra_context or {}),
        }
        return TemplateResponse(
            request,
            "admin/accounts/invitation/invite.html",
            context,
        )
