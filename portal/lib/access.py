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
        "feedback.view_pagehelpfulness",
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


def as_account(user):
    """The user as the policy sees its account, not a session: for mail sent to the
    account's own address (a task's user, loaded from the database, has no session and
    would otherwise count as role-less). Every rule then answers by the role the account
    holds. Never pass a request's user through this."""
    if user is not None and user.is_authenticated:
        user.is_verified = lambda: True
    return user


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


def embargoed_q(now=None, prefix="") -> Q:
    """Figures (or, with prefix "figures__", pages with figures) still under embargo at `now`
    (the embargo lifts at the start of its day)."""
    return Q(**{f"{prefix}embargo_until__gt": today(now)})


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


def can_filter_restricted(user) -> bool:
    """The list's "restricted figures" filter, the cards' markers and the account page's
    review lists: for those who see restricted figures, and for no one else (for anyone
    else the filter's parameter does not exist)."""
    return can_see_restricted_figures(user)


# Embargoes that lift within this many days count as "lifting soon".
LIFTING_SOON_DAYS = 30


def lifting_soon_q(now=None, prefix="") -> Q:
    """Figures whose embargo lifts within LIFTING_SOON_DAYS."""
    day = today(now)
    return Q(
        **{
            f"{prefix}embargo_until__gt": day,
            f"{prefix}embargo_until__lte": day + datetime.timedelta(days=LIFTING_SOON_DAYS),
        }
    )


def restricted_summaries(mitigation_ids, user, now=None, *, table=None) -> dict:
    """{mitigation id: summary} of the restricted figures on these pages, for those who may
    see them ({} for everyone else). A summary: preliminary and embargoed counts, and the
    first and last embargo dates (`restricted_summary_of`).

    `table`: every page's summaries as `restricted_summary_table(now)` gave them (the
    caller keeps it per data version and day), instead of a query for these pages."""
    if not can_see_restricted_figures(user) or not mitigation_ids:
        return {}
    if table is not None:
        return {page: table[page] for page in mitigation_ids if page in table}
    return _summaries(
        global_apps.get_model("mitigations", "Figure").objects.filter(
            mitigation__in=mitigation_ids
        ),
        now,
    )


def restricted_summary_table(now=None) -> dict:
    """{mitigation id: summary} of every page with restricted figures, whoever asks: only
    for `restricted_summaries(..., table=)`, which answers only those who may see them."""
    return _summaries(global_apps.get_model("mitigations", "Figure").objects.all(), now)


def _summaries(figures, now) -> dict:
    rows = (
        figures.filter(restricted_q(now))
        .order_by()
        .values_list("mitigation", "preliminary", "embargo_until")
    )
    by_page = {}
    for page, preliminary, embargo_until in rows:
        by_page.setdefault(page, []).append((preliminary, embargo_until))
    day = today(now)
    return {page: _summary(pairs, day) for page, pairs in by_page.items()}


def _summary(figures, day) -> dict:
    """The summary of restricted figures given as (preliminary, embargo_until) pairs."""
    lifts = sorted(until for _, until in figures if until and until > day)
    return {
        "preliminary": sum(1 for preliminary, _ in figures if preliminary),
        "embargoed": len(lifts),
        "first_lift": lifts[0] if lifts else None,
        "last_lift": lifts[-1] if lifts else None,
    }


def restricted_summary_of(figures, now=None) -> dict | None:
    """The same summary for figures already loaded (a detail page's visible figures)."""
    restricted = [f for f in figures if figure_is_restricted(f, now)]
    if not restricted:
        return None
    return _summary([(f.preliminary, f.embargo_until) for f in restricted], today(now))


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


# Feedback in the reviewers' discussion: reviewers' posts show at once (they are invited and
# accountable) and stay until an editor rejects them or marks them as spam.
THREAD_STATUSES = ("pending", "approved")


def visible_thread(queryset, user):
    """Feedback a user may read in a page's reviewers' discussion: reviewers' posts that no
    editor has rejected, for reviewers and editors only."""
    if not can_see_reviewer_thread(user):
        return queryset.none()
    return queryset.filter(status__in=THREAD_STATUSES, by_reviewer=True)


def in_thread(item) -> bool:
    return item.by_reviewer and item.status in THREAD_STATUSES


def visible_replies(queryset, user):
    """Replies in the discussion a user may read: those no editor has hidden."""
    if not can_see_reviewer_thread(user):
        return queryset.none()
    return queryset.filter(hidden=False)


def can_reply(user) -> bool:
    return can_see_reviewer_thread(user)


def feedback_is_restricted(item) -> bool:
    """Feedback written by an account that may see restricted figures, or about the figures:
    its text may quote restricted figures, so it is restricted itself. (Replies are always
    written by such accounts: they are always restricted.)"""
    return bool(item.by_reviewer) or item.section == "figures"


def can_read_feedback_text(item, user) -> bool:
    """Whether `user` may read the text of a feedback item (its comment, proposed category,
    the editors' reply): anyone holding its link for unrestricted feedback; for restricted
    feedback only a signed-in account that may see restricted figures (the author included
    only if they still may). Everyone else with the link sees its status only."""
    return not feedback_is_restricted(item) or can_see_restricted_figures(user)


def variant_key(user) -> str:
    """What a cached page may vary on: the role, and nothing else about the user."""
    return role_of(user)
