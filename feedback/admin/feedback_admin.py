"""The moderation queue in the Django admin (editors only): the ModelAdmin and its actions.

Every change goes through feedback.services.moderate: bulk actions, the intermediate
"reply" page and the change form alike. Built for a large table: pending-first ordering on
an index, a capped result count, cached status counts, a date drill-down without DISTINCT
scans (templatetags/feedback_admin.py), and no per-row queries (rows.py builds the rows).
"""

import datetime
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import get_script_prefix, path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import smart_split, unescape_string_literal
from django.views.decorators.http import require_POST
from simple_history.admin import SimpleHistoryAdmin

from feedback import services
from feedback.admin import columns
from feedback.admin.diff import page_changes
from feedback.admin.export import csv_response
from feedback.admin.filters import (
    CategoryFilter,
    ClaimFilter,
    DueFilter,
    OutdatedFilter,
    PageFilter,
    SubmitterFilter,
)
from feedback.admin.rows import FeedbackChangeList, PageUrls, truncate_chars
from feedback.models import Feedback, due_cutoff, due_days, open_work_q
from mitigations.models import Mitigation
from portal.lib import access
from portal.lib.admin_safety import SafeChangelistMixin

STATUS_COUNTS_KEY = "feedback:admin:status-counts"
STATUS_COUNTS_SECONDS = 30
COUNT_CAP = 10_000

# The change form's fields (all read-only but the moderation decision).
FEEDBACK_FIELDS = [
    "page_link",
    "page_version",
    "section",
    "kind",
    "proposed_category",
    "comment",
    "created_at",
]
SUBMITTER_FIELDS = ["user", "by_reviewer", "name", "contact_email", "contact_consent"]
DECISION_FIELDS = ["status", "resolution", "public_reply"]


# --- Large-table helpers -------------------------------------------------------------------


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows (a LIMITed subquery), never the whole table."""

    cap = COUNT_CAP

    @cached_property
    def count(self):
        # Unordered, so that the database stops at the cap instead of sorting first.
        return self.object_list.order_by()[: self.cap + 1].count()


def status_counts():
    """[(status, label, count)], from the cache for STATUS_COUNTS_SECONDS (one GROUP BY)."""
    return queue_counts()["statuses"]


def queue_counts():
    """{"statuses": [(status, label, count)], "needs_resolution": n, "overdue": n}, from the
    cache for STATUS_COUNTS_SECONDS (one pass over the table)."""
    counts = cache.get(STATUS_COUNTS_KEY)
    if counts is None:
        filters = {
            status: Count("pk", filter=Q(status=status)) for status in Feedback.Status.values
        }
        rows = Feedback.objects.order_by().aggregate(
            **filters,
            needs_resolution=Count("pk", filter=Q(status="approved", resolution="open")),
            overdue=Count("pk", filter=open_work_q() & Q(created_at__lt=due_cutoff())),
        )
        counts = {
            "statuses": [
                (value, label, rows[value] or 0) for value, label in Feedback.Status.choices
            ],
            "needs_resolution": rows["needs_resolution"] or 0,
            "overdue": rows["overdue"] or 0,
        }
        cache.set(STATUS_COUNTS_KEY, counts, STATUS_COUNTS_SECONDS)
    return counts


def mine_count(user):
    """Open items claimed by `user` (an index lookup; cached with the other counts)."""
    key = f"{STATUS_COUNTS_KEY}:mine:{user.pk}"
    count = cache.get(key)
    if count is None:
        count = Feedback.objects.filter(open_work_q(), claimed_by=user).count()
        cache.set(key, count, STATUS_COUNTS_SECONDS)
    return count


def forget_counts(user=None):
    cache.delete(STATUS_COUNTS_KEY)
    if user is not None:
        cache.delete(f"{STATUS_COUNTS_KEY}:mine:{user.pk}")


# The presets above the queue: (label, filters, count key).
PRESETS = [
    ("Pending", {"status__exact": "pending"}, "pending"),
    ("Needs a resolution", {"status__exact": "approved", "resolution__exact": "open"}, "needs"),
    ("Mine", {"claimed": "me"}, "mine"),
    ("Overdue", {"due": "overdue"}, "overdue"),
    ("Spam", {"status__exact": "spam"}, "spam"),
]


_PAST = {
    "approve": "approved",
    "reject": "rejected",
    "spam": "marked as spam",
    "addressed": "marked as addressed",
    "declined": "marked as declined",
}


def _stale_message(item):
    """What an editor is told when the item changed under their form."""
    item = Feedback.objects.select_related("moderated_by", "claimed_by").get(pk=item.pk)
    who = item.moderated_by.get_username() if item.moderated_by else "someone"
    when = timezone.localtime(item.updated_at).strftime("%H:%M:%S")
    return (
        f"Feedback #{item.pk} was changed by {who} at {when} since you opened it "
        f"(now {item.get_status_display().lower()}, "
        f"{item.get_resolution_display().lower()}): nothing was changed. Look again and decide."
    )


# --- Forms for the intermediate action page ------------------------------------------------


class ReplyForm(forms.Form):
    reply = forms.CharField(
        label="Public reply",
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}),
        help_text="Shown on the tracking page, in the reviewers' thread and in the email to "
        "submitters who asked to be contacted. Leave empty to keep any existing reply.",
    )


class MergeForm(forms.Form):
    into = forms.IntegerField(
        label="Duplicates of item #",
        min_value=1,
        help_text="The item that is answered: its resolution and public reply reach every "
        "submitter of the items merged into it (their own text stays private).",
    )

    def __init__(self, *args, selected, **kwargs):
        super().__init__(*args, **kwargs)
        self.selected = selected

    def clean_into(self):
        pk = self.cleaned_data["into"]
        into = Feedback.objects.filter(pk=pk).first()
        if into is None:
            raise forms.ValidationError(f"There is no feedback #{pk}.")
        root, seen = into, {into.pk}
        while root.duplicate_of_id is not None and root.duplicate_of_id not in seen:
            # Merged into another item already: that one is answered.
            root = Feedback.objects.get(pk=root.duplicate_of_id)
            seen.add(root.pk)
        if root.status == Feedback.Status.SPAM:
            raise forms.ValidationError(
                f"#{root.pk} is spam: merge into an item that will be answered."
            )
        if self.selected.filter(pk=root.pk).exists():
            raise forms.ValidationError(
                f"#{root.pk} is one of the selected items: an item cannot be merged into itself."
            )
        return root


# --- The admin -----------------------------------------------------------------------------


class FeedbackAdmin(SafeChangelistMixin, SimpleHistoryAdmin):
    list_display = ["item", "comment_col", "page_col", "kind_col", "who", "age", "state", "decide"]
    list_display_links = ["item"]
    # Columns whose HTML rows.py may build itself (each method returns safe or plain text).
    fast_columns = list_display
    list_filter = [
        "status",
        "resolution",
        DueFilter,
        ClaimFilter,
        OutdatedFilter,
        "kind",
        "section",
        PageFilter,
        CategoryFilter,
        SubmitterFilter,
    ]
    list_select_related = ["mitigation", "user", "claimed_by", "proposed_category"]
    list_per_page = 50
    secret_fields = ("token", "submission_id", "ip_hash")  # no ?token__startswith=
    search_fields = ["comment", "name", "email", "mitigation__name", "=mitigation__code"]
    search_help_text = (
        "Searches the comment, the submitter's name and email, the page's name and (exactly) "
        "its id."
    )
    ordering = Feedback.QUEUE_ORDERING
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facet counts are a COUNT per filter choice
    paginator = CappedCountPaginator
    actions = [
        "approve",
        "reject",
        "mark_spam",
        "mark_addressed",
        "mark_declined",
        "claim",
        "release",
        "merge",
        "export_csv",
    ]
    change_list_template = "admin/feedback/feedback/change_list.html"
    fieldsets = [
        ("Feedback", {"fields": FEEDBACK_FIELDS}),
        ("Submitted by", {"fields": SUBMITTER_FIELDS}),
        ("Moderation", {"fields": [*DECISION_FIELDS, "moderated_by", "moderated_at"]}),
        ("The page since this feedback", {"fields": ["page_diff"]}),
    ]
    # All but the decision: that is taken through services.moderate (save_model).
    readonly_fields = [
        *FEEDBACK_FIELDS,
        *SUBMITTER_FIELDS,
        "moderated_by",
        "moderated_at",
        "page_diff",
    ]

    class Media:
        css = {"all": ["css/feedback.css"]}
        js = ["js/feedback_admin.js"]

    # --- who may do what: editors only (access policy), never add by hand ------------------

    def _editor(self, request):
        return access.can_moderate(request.user)

    def has_module_permission(self, request):
        return self._editor(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return self._editor(request) and super().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editor(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editor(request) and super().has_delete_permission(request, obj)

    def has_add_permission(self, request):
        return False

    def has_moderate_permission(self, request):
        return self._editor(request)

    def revert_disabled(self, request, obj=None):
        # Reverting from history would bypass the moderation service.
        return True

    # --- columns ---------------------------------------------------------------------------

    def get_search_results(self, request, queryset, search_term):
        """Every word must match the comment, name or email, or the page (name or exact id).

        Matching pages are looked up first and passed as a literal list, so that each
        condition stays on the feedback table and PostgreSQL combines its trigram indexes
        (migration 0003) and the page index instead of scanning every row.
        """
        for term in smart_split(search_term):
            if term[:1] in "\"'":
                # An unbalanced quote ('"abc') is searched for as typed, minus the quote.
                balanced = len(term) > 1 and term[0] == term[-1]
                term = unescape_string_literal(term) if balanced else term[1:]
            if not term:
                continue
            condition = (
                Q(comment__icontains=term) | Q(name__icontains=term) | Q(email__icontains=term)
            )
            pages = list(
                Mitigation.objects.filter(
                    Q(name__icontains=term) | Q(code__iexact=term)
                ).values_list("pk", flat=True)[:1000]
            )
            if pages:
                condition |= Q(mitigation__in=pages)
            queryset = queryset.filter(condition)
        return queryset, False

    @admin.display(description="Item")
    def item(self, obj):
        return f"#{obj.pk}"

    @admin.display(description="Comment")
    def comment_col(self, obj):
        return columns.comment_html(obj)

    @admin.display(description="Page · section")
    def page_col(self, obj):
        return columns.page_html(obj, self._page_urls)

    @property
    def _page_urls(self):
        # Reversed once per script prefix (not once per row).
        prefix = get_script_prefix()
        urls = self._urls_by_prefix.get(prefix)
        if urls is None:
            urls = self._urls_by_prefix[prefix] = PageUrls()
        return urls

    _urls_by_prefix: dict = {}

    @admin.display(description="Kind · proposed")
    def kind_col(self, obj):
        return columns.kind_html(obj)

    @admin.display(description="Who")
    def who(self, obj):
        return columns.who_html(obj)

    @admin.display(description="Age", ordering="created_at")
    def age(self, obj):
        return columns.age_html(obj)

    @admin.display(description="Status")
    def state(self, obj):
        return columns.state_html(obj)

    @admin.display(description="Decide")
    def decide(self, obj):
        return columns.decide_html(obj)

    @admin.display(description="Feedback")
    def summary(self, obj):
        return truncate_chars(" ".join(obj.comment.split()), 90)

    @admin.display(description="Page", ordering="mitigation__code")
    def page_link(self, obj):
        return PageUrls().link(obj)

    @admin.display(description="By")
    def submitter_display(self, obj):
        if obj.user_id:
            role = " (reviewer)" if obj.by_reviewer else ""
            return f"{obj.user.get_username()}{role}"
        return f"{obj.name} (anonymous)" if obj.name else "Anonymous"

    @admin.display(description="Email")
    def contact_email(self, obj):
        if obj.email:
            return obj.email
        if obj.contact_consent and obj.user_id:
            return f"{obj.user.email} (account)"
        return "—"

    @admin.display(description="Changes to the page since this version")
    def page_diff(self, obj):
        changes = page_changes(obj)
        if changes is None:
            return "No page version to compare with."
        if not changes:
            return "The page has not changed since this feedback was written."
        return format_html(
            '<dl class="feedback-diff diff">{}</dl>',
            format_html_join("", "<dt>{}</dt><dd>{}</dd>", changes),
        )

    # --- changelist ------------------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="feedback_feedback_export",
            ),
            path(
                "decide/",
                self.admin_site.admin_view(require_POST(self.decide_view)),
                name="feedback_feedback_decide",
            ),
            *super().get_urls(),
        ]

    def get_changelist(self, request, **kwargs):
        return FeedbackChangeList

    def get_ordering(self, request):
        """Pending first, then newest first; by status only the latter is left.

        With one status chosen the pending-first rank is the same for every row, so the
        order is simply -created_at, -id, which an index (status, kind, created_at) or
        (status, created_at) serves directly, instead of the queue index walked past every
        row of the other statuses.
        """
        if request.GET.get("due") == "overdue":
            return ["created_at", "id"]  # the most overdue first (fb_open_work_created)
        if request.GET.get("status__exact") in Feedback.Status.values:
            return ["-created_at", "-id"]
        if request.GET.get("claimed") == "me":
            return ["-created_at", "-id"]  # fb_claimed_created
        return super().get_ordering(request)

    def presets(self, request):
        """[(label, count, link, current)] for the counts above the queue."""
        counts = queue_counts()
        by_status = {value: count for value, _label, count in counts["statuses"]}
        numbers = {
            "pending": by_status.get("pending", 0),
            "needs": counts["needs_resolution"],
            "mine": mine_count(request.user),
            "overdue": counts["overdue"],
            "spam": by_status.get("spam", 0),
        }
        changelist = reverse("admin:feedback_feedback_changelist")
        current = {k: v for k, v in request.GET.items() if k not in ("p", "o", "q")}
        return [
            (label, numbers[key], f"{changelist}?{urlencode(filters)}", current == filters)
            for label, filters, key in PRESETS
        ]

    def changelist_view(self, request, extra_context=None):
        changelist = reverse("admin:feedback_feedback_changelist")
        extra_context = {
            **(extra_context or {}),
            "presets": self.presets(request),
            "status_counts": [
                (label, count, f"{changelist}?status__exact={value}")
                for value, label, count in status_counts()
            ],
            "count_cap": COUNT_CAP,
            "due_days": due_days(),
        }
        return super().changelist_view(request, extra_context)

    def decide_view(self, request):
        """One decision on one row of the queue (its buttons), through the services.

        `decide` is "<id>:<decision>:<version>"; the version is the row's updated_at when
        the queue was shown, so that deciding an item another editor decided meanwhile
        changes nothing and says so.
        """
        if not self.has_moderate_permission(request):
            raise PermissionDenied
        back = request.POST.get("next", "")
        changelist = reverse("admin:feedback_feedback_changelist")
        if not (
            back.startswith(changelist)
            and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()})
        ):
            back = changelist
        pk, _, rest = request.POST.get("decide", "").partition(":")
        decision, _, version = rest.partition(":")
        try:
            pk = int(pk)
            version = datetime.datetime.fromisoformat(version) if version else None
        except ValueError:
            pk = None
        if (
            pk is None
            or (decision not in columns.DECISIONS and decision not in columns.CLAIMS)
            or (version is not None and version.tzinfo is None)
        ):
            self.message_user(request, "That decision was not understood.", messages.ERROR)
            return HttpResponseRedirect(back)
        item = Feedback.objects.filter(pk=pk).only("pk").first()
        if item is None:
            self.message_user(request, f"Feedback #{pk} does not exist.", messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            if decision in columns.CLAIMS:
                to = request.user if decision == "claim" else None
                services.claim([pk], request.user, to=to, unchanged_since=version)
                verb = "claimed by you" if to else "released"
            else:
                label, _key, changes = columns.DECISIONS[decision]
                if "resolution" in changes:
                    reply = request.POST.get(f"reply-{pk}", "").strip()[:5000]
                    changes = {**changes, "reply": reply or None}
                services.moderate(
                    [pk],
                    request.user,
                    site_url=request.build_absolute_uri("/"),
                    unchanged_since=version,
                    **changes,
                )
                verb = _PAST.get(decision, decision)
        except services.StaleDecision as stale:
            self.message_user(request, _stale_message(stale.item), messages.WARNING)
            return HttpResponseRedirect(back)
        forget_counts(request.user)
        self.message_user(request, f"Feedback #{pk} {verb}.", messages.SUCCESS)
        return HttpResponseRedirect(back)

    def export_view(self, request):
        """The changelist's current selection (filters, search) as CSV, streamed."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest("Unknown filter in the export address.")
        queryset = changelist.get_queryset(request)
        return csv_response(queryset)

    # --- moderation: actions and the change form, all through services.moderate ----------

    def _moderate(self, request, queryset, verb, **changes):
        count = services.moderate(
            queryset, request.user, site_url=request.build_absolute_uri("/"), **changes
        )
        forget_counts(request.user)
        self.message_user(
            request,
            f"{count} feedback item{'s' if count != 1 else ''} {verb}.",
            messages.SUCCESS,
        )

    @admin.action(description="Claim selected feedback (I handle it)", permissions=["moderate"])
    def claim(self, request, queryset):
        count = services.claim(queryset, request.user, to=request.user)
        forget_counts(request.user)
        self.message_user(request, f"{count} feedback item{'s' if count != 1 else ''} claimed.")

    @admin.action(description="Release the claim on selected feedback", permissions=["moderate"])
    def release(self, request, queryset):
        claimers = set(queryset.values_list("claimed_by", flat=True))
        count = services.claim(queryset, request.user, to=None)
        for user_id in claimers - {None}:
            cache.delete(f"{STATUS_COUNTS_KEY}:mine:{user_id}")
        forget_counts(request.user)
        self.message_user(request, f"{count} feedback item{'s' if count != 1 else ''} released.")

    @admin.action(description="Merge selected as duplicates of one item…", permissions=["moderate"])
    def merge(self, request, queryset):
        """An intermediate page asks which item they duplicate; they are answered with it."""
        if "apply" in request.POST:
            form = MergeForm(request.POST, selected=queryset)
            if form.is_valid():
                into = form.cleaned_data["into"]
                count = services.merge(
                    queryset, into, request.user, site_url=request.build_absolute_uri("/")
                )
                forget_counts(request.user)
                self.message_user(
                    request,
                    f"{count} feedback item{'s' if count != 1 else ''} merged into #{into.pk}: "
                    "answering it answers them.",
                    messages.SUCCESS,
                )
                return None
        else:
            form = MergeForm(selected=queryset)
        return self._intermediate(
            request, queryset, form, "merge", "Merge duplicates into one item"
        )

    @admin.action(description="Approve selected feedback", permissions=["moderate"])
    def approve(self, request, queryset):
        self._moderate(request, queryset, "approved", status=Feedback.Status.APPROVED)

    @admin.action(description="Reject selected feedback", permissions=["moderate"])
    def reject(self, request, queryset):
        self._moderate(request, queryset, "rejected", status=Feedback.Status.REJECTED)

    @admin.action(description="Mark selected feedback as spam", permissions=["moderate"])
    def mark_spam(self, request, queryset):
        self._moderate(request, queryset, "marked as spam", status=Feedback.Status.SPAM)

    @admin.action(description="Mark as addressed, with a public reply…", permissions=["moderate"])
    def mark_addressed(self, request, queryset):
        return self._resolve(request, queryset, Feedback.Resolution.ADDRESSED, "mark_addressed")

    @admin.action(description="Mark as declined, with a public reply…", permissions=["moderate"])
    def mark_declined(self, request, queryset):
        return self._resolve(request, queryset, Feedback.Resolution.DECLINED, "mark_declined")

    @admin.action(description="Export selected feedback as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        return csv_response(queryset)

    def _resolve(self, request, queryset, resolution, action):
        """An intermediate page asks for the public reply, then applies the resolution."""
        if "apply" in request.POST:
            form = ReplyForm(request.POST)
            if form.is_valid():
                reply = form.cleaned_data["reply"].strip() or None
                verb = f"marked as {Feedback.Resolution(resolution).label.lower()}"
                self._moderate(request, queryset, verb, resolution=resolution, reply=reply)
                return None
        else:
            form = ReplyForm()
        title = f"Mark feedback as {Feedback.Resolution(resolution).label.lower()}"
        return self._intermediate(request, queryset, form, action, title)

    def _intermediate(self, request, queryset, form, action, title):
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "form": form,
            "action": action,
            "items": list(queryset.select_related("mitigation")[:20]),
            "select_across": request.POST.get("select_across", "0"),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/feedback/feedback/reply_action.html", context)

    def save_model(self, request, obj, form, change):
        """Edits of the change form are moderation too: route them through the service."""
        services.moderate(
            [obj.pk],
            request.user,
            status=obj.status,
            resolution=obj.resolution,
            reply=obj.public_reply,
            site_url=request.build_absolute_uri("/"),
        )
        forget_counts(request.user)
        obj.refresh_from_db()
