"""The moderation queue in the Django admin (editors only): the ModelAdmin and its actions.

Every change goes through feedback.services.moderate: bulk actions, the intermediate
"reply" page and the change form alike. Built for a large table: pending-first ordering on
an index, a capped result count, cached status counts, a date drill-down without DISTINCT
scans (templatetags/feedback_admin.py), and no per-row queries (rows.py builds the rows).
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.text import smart_split, unescape_string_literal
from simple_history.admin import SimpleHistoryAdmin

from feedback import services
from feedback.admin.diff import page_changes
from feedback.admin.export import csv_response
from feedback.admin.filters import CategoryFilter, PageFilter, SubmitterFilter
from feedback.admin.rows import FeedbackChangeList, PageUrls, truncate_chars
from feedback.models import Feedback, Reply
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
    counts = cache.get(STATUS_COUNTS_KEY)
    if counts is None:
        rows = dict(Feedback.objects.order_by().values_list("status").annotate(n=Count("pk")))
        counts = [(value, label, rows.get(value, 0)) for value, label in Feedback.Status.choices]
        cache.set(STATUS_COUNTS_KEY, counts, STATUS_COUNTS_SECONDS)
    return counts


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


# --- The admin -----------------------------------------------------------------------------


class ReplyInline(admin.TabularInline):
    """Replies in the reviewers' discussion, on their item's page: editors can hide them."""

    model = Reply
    extra = 0
    can_delete = False
    fields = ["user", "comment", "created_at", "hidden", "hidden_by"]
    readonly_fields = ["user", "comment", "created_at", "hidden_by"]
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return access.can_moderate(request.user)

    def has_view_permission(self, request, obj=None):
        return access.can_moderate(request.user)


class FeedbackAdmin(SafeChangelistMixin, SimpleHistoryAdmin):
    list_display = [
        "summary",
        "page_link",
        "section",
        "kind",
        "status",
        "resolution",
        "submitter_display",
        "created_at",
    ]
    list_display_links = ["summary"]
    list_filter = [
        "status",
        "resolution",
        "kind",
        "section",
        PageFilter,
        CategoryFilter,
        SubmitterFilter,
    ]
    list_select_related = ["mitigation", "user"]
    list_per_page = 50
    secret_fields = ("token", "submission_id", "ip_hash")  # no ?token__startswith=
    search_fields = ["comment", "name", "email", "mitigation__name", "=mitigation__code"]
    search_help_text = (
        "Searches the comment, the submitter's name and email, the page's name and (exactly) "
        "its id."
    )
    date_hierarchy = "created_at"
    ordering = Feedback.QUEUE_ORDERING
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER  # facet counts are a COUNT per filter choice
    paginator = CappedCountPaginator
    actions = ["approve", "reject", "mark_spam", "mark_addressed", "mark_declined", "export_csv"]
    change_list_template = "admin/feedback/feedback/change_list.html"
    inlines = [ReplyInline]
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
        if request.GET.get("status__exact") in Feedback.Status.values:
            return ["-created_at", "-id"]
        return super().get_ordering(request)

    def changelist_view(self, request, extra_context=None):
        changelist = reverse("admin:feedback_feedback_changelist")
        extra_context = {
            **(extra_context or {}),
            "status_counts": [
                (label, count, f"{changelist}?status__exact={value}")
                for value, label, count in status_counts()
            ],
            "count_cap": COUNT_CAP,
        }
        return super().changelist_view(request, extra_context)

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
        cache.delete(STATUS_COUNTS_KEY)
        self.message_user(
            request,
            f"{count} feedback item{'s' if count != 1 else ''} {verb}.",
            messages.SUCCESS,
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
        context = {
            **self.admin_site.each_context(request),
            "title": f"Mark feedback as {Feedback.Resolution(resolution).label.lower()}",
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

    def get_inline_instances(self, request, obj=None):
        # Only items with replies carry the inline (and its management form).
        if obj is None or not obj.replies.exists():
            return []
        return super().get_inline_instances(request, obj)

    def save_formset(self, request, form, formset, change):
        """Hiding a reply goes through the service (who hid it is recorded)."""
        if formset.model is not Reply:
            return super().save_formset(request, form, formset, change)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.forms:
            if inline_form.instance.pk and "hidden" in inline_form.changed_data:
                reply = Reply.objects.get(pk=inline_form.instance.pk)
                services.reply_set_hidden(
                    reply=reply, by=request.user, hidden=inline_form.cleaned_data["hidden"]
                )
                formset.changed_objects.append((reply, ["hidden"]))
        return None

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
        cache.delete(STATUS_COUNTS_KEY)
        obj.refresh_from_db()
