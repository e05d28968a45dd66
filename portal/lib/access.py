"""Roles and the visibility policy: who may see which page, which figure, which feedback.

This is the one place that decides visibility. Every channel (pages, search, exports,
feeds, sitemaps, admin, caching) asks these functions; nothing else filters by status,
preliminary flag or embargo date.

Roles are Django groups with permissions (created and kept in sync by migrations calling
`sync_roles`). The policy checks permissions, never group names, so a superuser is an editor.
"""

import datetime

from django.apps import apps as global_apps
from django.db.models import Q
from django.utils import timezone

READER, REVIEWER, EDITOR = "reader", "reviewer", "editor"

# Permissions that carry the portal's special rights.
SEE_DRAFTS = "mitigations.view_draft_mitigation"
SEE_RESTRICTED_FIGURES = "mitigations.view_restricted_figure"
SEE_REVIEWER_THREAD = "feedback.view_reviewer_thread"
MODERATE = "feedback.moderate_feedback"

_MODEL_PERMS = ("add", "change", "delete", "view")
_CATALOGUE_MODELS = (
    "taxonomycategory",
    "lifecyclestage",
    "actor",
    "rmffunction",
    "sourcedocument",
    "mitigation",
    "figure",
)

# role name -> permissions ("app_label.codename"); editors are also staff (admin access).
ROLES: dict[str, list[str]] = {
    REVIEWER: [SEE_RESTRICTED_FIGURES, SEE_REVIEWER_THREAD],
    EDITOR: [
        SEE_RESTRICTED_FIGURES,
        SEE_REVIEWER_THREAD,
        SEE_DRAFTS,
        MODERATE,
        *(f"mitigations.{p}_{m}" for m in _CATALOGUE_MODELS for p in _MODEL_PERMS),
        "mitigations.view_figureview",
        "feedback.view_feedback",
        "feedback.change_feedback",
        "feedback.delete_feedback",
        *(f"feedback.{p}_replytemplate" for p in _MODEL_PERMS),
        # the sign-in log and lockouts (django-axes)
        "axes.view_accessattempt",
        "axes.delete_accessattempt",
        "axes.view_accesslog",
        "axes.view_accessfailurelog",
        # accounts: see them, invite reviewers, reset a reviewer's second factor
        "auth.view_user",
        "accounts.view_invitation",
        "accounts.add_invitation",
        "accounts.reset_second_factor",
    ],
}
STAFF_ROLES = {EDITOR}
ROLE_LABELS = {REVIEWER: "Reviewer", EDITOR: "Editor"}


def group_name(role: str) -> str:
    return ROLE_LABELS[role] + "s"


def sync_roles(apps=global_apps, stdout=None):
    """Create or update the role groups so that each has exactly its permissions.

    `apps` is a migration's historical app registry, or the live one."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=group_name(role))
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            found = Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            ).first()
            if found is None:
                raise LookupError(f"Permission {perm} for role {role} does not exist")
            wanted.append(found)
        group.permissions.set(wanted)


def account_role(user) -> str:
    """The role an account holds, whatever this session has proved: for choosing whom to
    mail and whether the account must use a second factor. Never use it to decide what a
    request may see (that is `role_of`).

    Remembered on the user object, like Django remembers its permissions there (a request
    asks several times; the next request loads the user again)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return READER
    role = getattr(user, "_portal_role", None)
    if role is None:
        if user.has_perm(SEE_DRAFTS) and user.is_staff:
            role = EDITOR
        elif user.has_perm(SEE_RESTRICTED_FIGURES):
            role = REVIEWER
        else:
            role = READER
        user._portal_role = role
    return role


def needs_second_factor(user) -> bool:
    """Accounts that can see restricted figures or use the admin must pass a second factor
    before they act in their role."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return account_role(user) != READER or user.is_staff or user.is_superuser


def is_verified(user) -> bool:
    """Whether this signed-in session passed the second factor. The flag is put on the
    request's user by the second-factor middleware (django-otp's OTPMiddleware installs
    `user.is_verified()`); a user object that did not come through it (one loaded from the
    database, a task's) has no verified session: fail closed."""
    check = getattr(user, "is_verified", None)
    return bool(check()) if callable(check) else False


def role_of(user) -> str:
    """The role a request's user acts in: the strongest one the account holds, once the
    session has passed the second factor. A signed-in session that has not (yet) is
    treated as role-less."""
    role = account_role(user)
    if role != READER and not is_verified(user):
        return READER
    return role


def may_use_admin(user) -> bool:
    """The admin: staff accounts, in a session that passed the second factor."""
    return (
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and is_verified(user)
    )


def can_see_drafts(user) -> bool:
    return role_of(user) == EDITOR


def can_see_restricted_figures(user) -> bool:
    return role_of(user) in (REVIEWER, EDITOR)


def can_see_reviewer_thread(user) -> bool:
    return role_of(user) in (REVIEWER, EDITOR) and user.has_perm(SEE_REVIEWER_THREAD)


def can_moderate(user) -> bool:
    return role_of(user) == EDITOR and user.has_perm(MODERATE)


def account_can_moderate(user) -> bool:
    """Whether the account moderates (whom to mail about new feedback), whatever session."""
    return account_role(user) == EDITOR and user.has_perm(MODERATE)


def today(now: datetime.datetime | None = None) -> datetime.date:
    return timezone.localdate(now or timezone.now())


# --- Pages ---------------------------------------------------------------------------------


def visible_mitigations(queryset, user):
    """Mitigations the user may know exist: drafts only for editors."""
    if can_see_drafts(user):
        return queryset
    return queryset.exclude(status="draft")


def mitigation_is_visible(mitigation, user) -> bool:
    return mitigation.status != "draft" or can_see_drafts(user)


# --- Figures -------------------------------------------------------------------------------


def embargoed_q(now=None) -> Q:
    """Figures still under embargo at `now` (the embargo lifts at the start of its day)."""
    return Q(embargo_until__gt=today(now))


def restricted_q(now=None) -> Q:
    """Figures that are preliminary or still under embargo at `now`."""
    return Q(preliminary=True) | embargoed_q(now)


def figure_is_restricted(figure, now=None) -> bool:
    return figure.preliminary or (
        figure.embargo_until is not None and figure.embargo_until > today(now)
    )


def visible_figures(queryset, user, now=None):
    """Figures the user may see, on pages the user may see."""
    queryset = queryset.filter(mitigation__in=visible_mitigations(_mitigations(), user))
    if can_see_restricted_figures(user):
        return queryset
    return queryset.exclude(restricted_q(now))


def figure_change_is_visible(before, after, now=None) -> bool:
    """Whether changing a figure from `before` to `after` (either None: created, deleted)
    changes its page for readers: only if the figure was or is unrestricted. Editing a
    preliminary or embargoed figure that stays so moves neither the page's public date nor
    its public version (see `updated_field`)."""
    return any(f is not None and not figure_is_restricted(f, now) for f in (before, after))


def split_figures(figures, user, now=None):
    """(the figures the user may see, how many are withheld) of one visible page's figures,
    already fetched: the same answer as visible_figures and hidden_figures, without a query."""
    if can_see_restricted_figures(user):
        return list(figures), 0
    shown = [f for f in figures if not figure_is_restricted(f, now)]
    return shown, len(figures) - len(shown)


def hidden_figures(queryset, user, now=None):
    """Figures withheld from the user (only ever counted, for the sign-in notice)."""
    if can_see_restricted_figures(user):
        return queryset.none()
    return queryset.filter(restricted_q(now))


def updated_field(user) -> str:
    """The "updated" date a user is shown and can sort by.

    Those who see restricted figures see every change (`updated_at`); everyone else sees
    `public_updated_at`, which moves only with changes they can see (page fields, links,
    unrestricted figures; see `figure_change_is_visible`), so the feed, "Recently updated",
    `sort=-updated` and the page's date never reveal an edit of a hidden figure. (A lifting
    embargo does not move it: the page's text did not change.)"""
    return "updated_at" if can_see_restricted_figures(user) else "public_updated_at"


def updated_at(mitigation, user):
    return getattr(mitigation, updated_field(user))


def next_embargo_change(now=None):
    """The next moment at which an embargo lifts (so caches never outlive an embargo)."""
    next_day = (
        global_apps.get_model("mitigations", "Figure")
        .objects.filter(embargo_until__gt=today(now))
        .order_by("embargo_until")
        .values_list("embargo_until", flat=True)
        .first()
    )
    if next_day is None:
        return None
    return timezone.make_aware(datetime.datetime.combine(next_day, datetime.time.min))


def _mitigations():
    # Through the app registry: the ground floor imports no app (the apps import it).
    return global_apps.get_model("mitigations", "Mitigation").objects.all()


# --- Feedback ------------------------------------------------------------------------------


def visible_thread(queryset, user):
    """Others' feedback a user may read on a page: approved reviewer feedback, reviewers only."""
    if not can_see_reviewer_thread(user):
        return queryset.none()
    return queryset.filter(status="approved", by_reviewer=True)


def variant_key(user) -> str:
    """What a cached page may vary on: the role, and nothing else about the user."""
    return role_of(user)
