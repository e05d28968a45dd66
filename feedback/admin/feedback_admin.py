"""The moderation queue in the Django admin (editors only): the ModelAdmin and its actions.

Every change goes through feedback.services.moderate: bulk actions, the intermediate
"reply" page and the change form alike. Built for a large table: pending-first ordering on
an index, a capped result count, cached status counts, a date drill-down without DISTINCT
scans (templatetags/feedback_admin.py), and no per-row queries (rows.py builds the rows).
"""

import copy
import datetime
import secrets
import time
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpResponseBadRequest, HttpResponseRedirect, QueryDict
from django.template.defaultfilters import linebreaksbr
from django.template.response import TemplateResponse
from django.urls import get_script_prefix, path, reverse
from django.utils import formats, timezone
from django.utils.functional import cached_property
from django.utils.html import escape, format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.text import smart_split, unescape_string_literal
from django.views.decorators.http import require_POST
from simple_history.admin import SimpleHistoryAdmin

from feedback import notifications, services
from feedback.admin import columns
from feedback.admin.diff import page_changes, section_versions
from feedback.admin.export import csv_response
from feedback.admin.filters import (
    CategoryFilter,
    ClaimFilter,
    DueFilter,
    OutdatedFilter,
    PageFilter,
    SubmitterFilter,
)
from feedback.admin.rows import (
    LIST_DEFERRED,
    ActionForm,
    FeedbackChangeList,
    PageUrls,
    truncate_chars,
)
from feedback.models import Feedback, Reply, ReplyTemplate, due_cutoff, due_days, open_work_q
from mitigations.models import Mitigation
from portal.lib import access
from portal.lib.admin_safety import SafeChangelistMixin

User = get_user_model()
STATUS_COUNTS_KEY = "feedback:admin:status-counts"
STATUS_COUNTS_SECONDS = 30
COUNT_CAP = 10_000
NEXT_WINDOW = 500  # "save and next" looks this far down the queue for the current item

# What services.moderate and services.claim change on an item.
MODERATED_FIELDS = [
    "status",
    "resolution",
    "public_reply",
    "moderated_by",
    "moderated_at",
    "claimed_by",
    "claimed_at",
    "updated_at",
]

# The change form's fields (all read-only but the moderation decision).
# The change form, decision first: what was said and about what, the section then and now,
# the decision; the rest folded at the end.
FEEDBACK_FIELDS = ["about", "comment_full", "section_then_now"]
DECISION_FIELDS = ["status", "resolution", "reply_templates", "public_reply", "mail_preview"]
HANDLING_FIELDS = ["claimed_by", "duplicate_of_link", "seen"]
SUBMITTER_FIELDS = ["user", "by_reviewer", "name", "contact_email", "contact_consent"]
DETAIL_FIELDS = [
    "page_version_display",
    "created_at",
    "moderated_by",
    "moderated_at",
    "ip_hash",
    "submission_id",
    "page_diff",
]


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


def queue_counts(request=None):
    """{"statuses": [(status, label, count)], "needs_resolution": n, "overdue": n}, from the
    cache (one pass over the table at most every STATUS_COUNTS_SECONDS); with a request, also
    "mine" (the editor's open claims, cached as long), all read in one cache round trip and
    kept on the request for the rest of it (the presets, the paginator).

    The entry outlives its freshness: when it is stale (its time ran out, or a decision
    marked it), one request counts again while the others show the stale counts, instead of
    every open queue page counting the million rows at the same moment."""
    counts = getattr(request, "_feedback_queue_counts", None)
    if counts is not None:
        return counts
    mine_key = f"{STATUS_COUNTS_KEY}:mine:{request.user.pk}" if request is not None else None
    found = cache.get_many([STATUS_COUNTS_KEY, mine_key] if mine_key else [STATUS_COUNTS_KEY])
    fresh_until, counts = found.get(STATUS_COUNTS_KEY) or (0, None)
    if counts is None or (fresh_until < time.time() and cache.add(_RECOUNT_KEY, 1, 60)):
        try:
            counts = _count_queue()
            entry = (time.time() + STATUS_COUNTS_SECONDS, counts)
            cache.set(STATUS_COUNTS_KEY, entry, STATUS_COUNTS_SECONDS * 20)
        finally:
            cache.delete(_RECOUNT_KEY)
    if request is not None:
        mine = found.get(mine_key)
        if mine is None:
            mine = Feedback.objects.filter(open_work_q(), claimed_by=request.user).count()
            cache.set(mine_key, mine, STATUS_COUNTS_SECONDS)
        counts = request._feedback_queue_counts = {**counts, "mine": mine}
    return counts


_RECOUNT_KEY = f"{STATUS_COUNTS_KEY}:recounting"


def _count_queue():
    filters = {status: Count("pk", filter=Q(status=status)) for status in Feedback.Status.values}
    rows = Feedback.objects.order_by().aggregate(
        **filters,
        needs_resolution=Count("pk", filter=Q(status="approved", resolution="open")),
        overdue=Count("pk", filter=open_work_q() & Q(created_at__lt=due_cutoff())),
    )
    return {
        "statuses": [(value, label, rows[value] or 0) for value, label in Feedback.Status.choices],
        "needs_resolution": rows["needs_resolution"] or 0,
        "overdue": rows["overdue"] or 0,
    }


def known_count(params, counts=None):
    """The number of items a changelist with these query parameters shows, when the queue's
    cached counts hold it (the whole queue, one status, a preset; no search), else None.
    `counts`: the queue's counts as this request read them; else only the cache is read (a
    missing entry is not computed here)."""
    counts = counts or (cache.get(STATUS_COUNTS_KEY) or (0, None))[1]
    params = {k: v for k, v in params.items() if k not in ("p", "o")}
    if counts is None or len(params) > 2:
        return None
    by_status = {value: count for value, _label, count in counts["statuses"]}
    if not params:
        return sum(by_status.values())
    if params == {"due": "overdue"}:
        return counts["overdue"]
    if params == {"status__exact": "approved", "resolution__exact": "open"}:
        return counts["needs_resolution"]
    if len(params) == 1 and "status__exact" in params:
        return by_status.get(params["status__exact"])
    return None


def forget_counts(user=None):
    """After a decision: the queue's counts are stale (the next queue page counts again; pages
    opened meanwhile show the old counts), the editor's own claims are dropped."""
    entry = cache.get(STATUS_COUNTS_KEY)
    if entry is not None:
        cache.set(STATUS_COUNTS_KEY, (0, entry[1]), STATUS_COUNTS_SECONDS * 20)
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
    item = Feedback.objects.get(pk=item.pk)
    last = item.history.select_related("history_user").order_by("-history_id").first()
    who = last.history_user.get_username() if last and last.history_user else "someone"
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


class FeedbackChangeForm(forms.ModelForm):
    """The decision, with an optimistic check: `seen` is when the item last changed as the
    form was made; saving over a newer change is refused with a clear message."""

    seen = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Feedback
        fields = ["status", "resolution", "public_reply", "claimed_by"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.initial["seen"] = columns.version_of(self.instance)
        if "claimed_by" in self.fields:
            editors = User.objects.filter(
                Q(groups__name=access.group_name(access.EDITOR)) | Q(is_superuser=True),
                is_active=True,
            ).distinct()
            self.fields["claimed_by"].queryset = editors.order_by("username")
            self.fields["claimed_by"].label = "Claimed by (who handles it)"

    def clean_seen(self):
        value = self.cleaned_data.get("seen") or ""
        if not value:
            return None
        try:
            seen = datetime.datetime.fromisoformat(value)
        except ValueError:
            seen = None
        if seen is None or seen.tzinfo is None:
            raise forms.ValidationError("The form was damaged: open the item again.")
        return seen

    def clean(self):
        cleaned = super().clean()
        seen = cleaned.get("seen")
        # The item as this request read it (the service checks again, under a row lock).
        if self.instance.pk and seen is not None and self.instance.updated_at != seen:
            raise forms.ValidationError(_stale_message(self.instance))
        return cleaned

    def validate_constraints(self):
        """The table's check constraints are that status and resolution are among their
        choices: the fields refuse any other value already (and the database would).
        Django would ask the database once per constraint."""


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
    list_display = ["item", "comment_col", "page_col", "kind_col", "who", "age", "state", "decide"]
    list_display_links = ["item"]
    # Columns whose HTML rows.py may build itself (each method returns safe or plain text).
    fast_columns = list_display
    # What those columns read (columns.py; str() of an item for the checkbox's label): the
    # rows fetch nothing else (tests/feedback/test_moderation.py counts the queries).
    list_fields = [
        "mitigation__code",
        "mitigation__slug",
        "mitigation__name",
        "section",
        "kind",
        "comment",
        "proposed_category__code",
        "proposed_category__name",
        "user__username",
        "by_reviewer",
        "name",
        "status",
        "resolution",
        "created_at",
        "updated_at",
        "claimed_by__username",
        "claimed_at",
        "duplicate_of",
        "page_changed_at",
    ]
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
    action_form = ActionForm  # its menu made in Python (rows.ActionSelect)
    change_list_template = "admin/feedback/feedback/change_list.html"
    inlines = [ReplyInline]
    form = FeedbackChangeForm
    change_form_template = "admin/feedback/feedback/change_form.html"
    fieldsets = [
        ("Feedback", {"fields": FEEDBACK_FIELDS}),
        ("Decision", {"fields": DECISION_FIELDS}),
        ("Handling", {"fields": HANDLING_FIELDS}),
        ("Submitted by", {"fields": SUBMITTER_FIELDS, "classes": ["collapse"]}),
        ("Details", {"fields": DETAIL_FIELDS, "classes": ["collapse"]}),
    ]
    # All but the decision and the claim: taken through the services (save_model).
    readonly_fields = [
        *FEEDBACK_FIELDS,
        "reply_templates",
        "mail_preview",
        "duplicate_of_link",
        *SUBMITTER_FIELDS,
        *DETAIL_FIELDS,
    ]

    class Media:
        css = {"all": ["css/feedback.css"]}
        js = ["js/feedback_admin.js"]

    # --- who may do what: editors only (access policy), never add by hand ------------------

    def _editor(self, request):
        # Asked a few dozen times per page (every permission check, every action): once.
        editor = getattr(request, "_feedback_editor", None)
        if editor is None:
            editor = request._feedback_editor = access.can_moderate(request.user)
        return editor

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

    def row_columns(self):
        """For the rows built in Python (rows.FeedbackChangeList): the list_display methods
        below as one page of rows makes them, what the rows share worked out once."""
        page = columns.Page(self._page_urls)
        return {
            "comment_col": page.comment,
            "page_col": page.page,
            "kind_col": page.kind,
            "who": page.who,
            "age": page.age,
            "state": page.state,
            "decide": page.decide,
        }

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

    # --- the change form's read-only parts ------------------------------------------------

    @admin.display(description="About")
    def about(self, obj):
        page = PageUrls().link(obj) if obj.mitigation_id else "General feedback"
        proposed = (
            format_html(
                " · proposes <strong>{} {}</strong>",
                obj.proposed_category.code,
                obj.proposed_category.name,
            )
            if obj.proposed_category_id
            else ""
        )
        return format_html(
            "{} · <strong>{}</strong> · {}{}<br>{} · {} ago{}",
            page,
            obj.get_section_display(),
            obj.get_kind_display(),
            proposed,
            columns.who_html(obj),
            columns.age_text(timezone.now() - obj.created_at),
            format_html(" · written against the page of {}", self._version_date(obj))
            if obj.page_version
            else "",
        )

    @admin.display(description="Comment")
    def comment_full(self, obj):
        # As Django shows a read-only text field: escaped, line breaks kept.
        return format_html(
            '<div class="fb-comment-full">{}</div>', linebreaksbr(obj.comment.strip() or "-")
        )

    @admin.display(description="The section then and now")
    def section_then_now(self, obj):
        rows = section_versions(obj)
        if rows is None:
            return "No page version to compare with for this part of the page."
        if not rows:
            return "This part of the page has not changed since the feedback was written."
        return format_html(
            '<p><span class="fb-badge fb-outdated">page changed since</span> '
            "the version of {}: possibly outdated.</p>{}",
            self._version_date(obj),
            format_html_join(
                "",
                '<div class="fb-then-now"><h4>{}</h4>'
                '<div class="fb-then"><h5>Written against</h5><div>{}</div></div>'
                '<div class="fb-now"><h5>Now</h5><div>{}</div></div>'
                '<div class="fb-diff-cell diff feedback-diff"><h5>Changes</h5><div>{}</div></div>'
                "</div>",
                rows,
            ),
        )

    def _version_date(self, obj):
        version = (
            Mitigation.history.filter(history_id=obj.page_version)
            .values("history_date", "id")
            .first()
        )
        if version is None:
            return "an unknown version"
        when = formats.date_format(timezone.localtime(version["history_date"]), "j M Y, H:i")
        url = reverse(
            "admin:mitigations_mitigation_simple_history",
            args=[version["id"], obj.page_version],
        )
        return format_html('<a href="{}">{}</a>', url, when)

    @admin.display(description="Page version")
    def page_version_display(self, obj):
        if not obj.page_version:
            return "—"
        return format_html("{} (history id {})", self._version_date(obj), obj.page_version)

    @admin.display(description="Reply templates")
    def reply_templates(self, obj):
        templates = list(ReplyTemplate.for_kind(obj.kind))
        if not templates:
            return "None for this kind yet (add some under Reply templates)."
        return format_html(
            '<div class="fb-templates">{}</div>',
            format_html_join(
                " ",
                '<button type="button" class="button" data-reply-template="{}"'
                ' data-resolution="{}">{}</button>',
                ((t.text, t.resolution, t.title) for t in templates),
            ),
        )

    @admin.display(description="The submitter's email")
    def mail_preview(self, obj):
        address = notifications.submitter_address(obj)
        if not address and obj.email and obj.contact_consent:
            return (
                "The submitter's address is not confirmed yet: no mail is sent until they "
                "confirm it."
            )
        if not address:
            return "The submitter is not emailed (no address, or they did not ask to be)."
        marker = f"fbreply{secrets.token_hex(8)}"  # letters only: the mail quotes the reply
        shown = Feedback(
            pk=obj.pk,
            token=obj.token,
            name=obj.name,
            user=obj.user,
            mitigation=obj.mitigation,
            resolution=obj.resolution if obj.resolution != "open" else "addressed",
            public_reply=marker,
        )
        subject, body = notifications.submitter_mail(shown)
        # The mail quotes each line of the reply with "> " (the marker is on the first).
        quoted_reply = "\n> ".join((obj.public_reply or "(no reply)").splitlines())
        body = escape(body).replace(
            escape(marker),
            f'<span id="fb-mail-reply">{escape(quoted_reply)}</span>',
        )
        return format_html(
            '<div class="fb-mail">To: {}<br>Subject: {}<pre>{}</pre></div>'
            '<p class="help">Sent when the item is marked addressed or declined.</p>',
            address,
            subject,
            mark_safe(body),  # noqa: S308 - escaped above
        )

    @admin.display(description="Duplicate of")
    def duplicate_of_link(self, obj):
        if obj.duplicate_of_id:
            url = reverse("admin:feedback_feedback_change", args=[obj.duplicate_of_id])
            return format_html(
                '<a href="{}">#{}</a>: answered with it (its resolution and reply apply here).',
                url,
                obj.duplicate_of_id,
            )
        count = obj.duplicates.count()
        if count:
            return f"{count} item{'s' if count != 1 else ''} merged into this one share its answer."
        return "—"

    @admin.display(description="Changes to the whole page since this version")
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

    def get_paginator(self, request, queryset, per_page, **kwargs):
        """Past the cap the count is the cap + 1 whatever the exact number: when the cached
        queue counts say a list is that long, it is not counted again (bench/README.md)."""
        paginator = super().get_paginator(request, queryset, per_page, **kwargs)
        known = known_count(request.GET, getattr(request, "_feedback_queue_counts", None))
        if known is not None and known > COUNT_CAP:
            paginator.count = COUNT_CAP + 1
        return paginator

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
        if request.GET.get("outdated") == "yes":
            return ["-created_at", "-id"]  # fb_page_changed_created
        return super().get_ordering(request)

    def presets(self, request):
        """[(label, count, link, current)] for the counts above the queue."""
        counts = queue_counts(request)
        by_status = {value: count for value, _label, count in counts["statuses"]}
        numbers = {
            "pending": by_status.get("pending", 0),
            "needs": counts["needs_resolution"],
            "mine": counts["mine"],
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
        extra_context = {
            **(extra_context or {}),
            "presets": self.presets(request),
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

    def get_object(self, request, object_id, from_field=None):
        """ModelAdmin.get_object, with the item's page (its big columns left out): the form
        shows it, and the change's log entry names it."""
        queryset = self.get_queryset(request).select_related("mitigation").defer(*LIST_DEFERRED)
        field = Feedback._meta.pk if from_field is None else Feedback._meta.get_field(from_field)
        try:
            return queryset.get(**{field.name: field.to_python(object_id)})
        except (Feedback.DoesNotExist, ValidationError, ValueError):
            return None

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
        """Edits of the change form are moderation too: route them through the services,
        refusing (with a message, nothing changed) when the item changed since the form."""
        seen = form.cleaned_data.get("seen")
        wanted = self._next_filters(request)
        if wanted is not None:
            # The next item as the editor saw the list, before this decision moves this one.
            request._feedback_next = (wanted, self._next_item(request, wanted, obj))
        try:
            with transaction.atomic():
                if "claimed_by" in form.changed_data:
                    services.claim([obj.pk], request.user, to=obj.claimed_by, unchanged_since=seen)
                    seen = None  # claiming changed it: the check was made
                services.moderate(
                    [obj.pk],
                    request.user,
                    status=obj.status,
                    resolution=obj.resolution,
                    reply=obj.public_reply,
                    site_url=request.build_absolute_uri("/"),
                    unchanged_since=seen,
                )
        except services.StaleDecision as stale:
            self.message_user(request, _stale_message(stale.item), messages.ERROR)
            request._feedback_stale = True
        forget_counts(request.user)
        # What the services may have changed (the page, selected with the item, stays).
        obj.refresh_from_db(fields=MODERATED_FIELDS)

    def save_related(self, request, form, formsets, change):
        """The item itself was saved through the services (save_model); of what is related,
        only the replies' inline is edited here, also through the services (save_formset)."""
        if getattr(request, "_feedback_stale", False):
            return
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def log_change(self, request, obj, message):
        if getattr(request, "_feedback_stale", False):
            return None
        return super().log_change(request, obj, message)

    def response_change(self, request, obj):
        """ "Save and next pending" / "Save and next in this filter" open the next item."""
        if getattr(request, "_feedback_stale", False):
            return HttpResponseRedirect(request.get_full_path())
        if not hasattr(request, "_feedback_next"):
            return super().response_change(request, obj)
        wanted, following = request._feedback_next
        self.message_user(request, f"Feedback #{obj.pk} saved.", messages.SUCCESS)
        preserved = {"_changelist_filters": wanted.urlencode()} if wanted else {}
        if following is None:
            self.message_user(request, "Nothing left in this list.", messages.INFO)
            url = reverse("admin:feedback_feedback_changelist")
            return HttpResponseRedirect(f"{url}?{wanted.urlencode()}" if wanted else url)
        url = reverse("admin:feedback_feedback_change", args=[following])
        return HttpResponseRedirect(f"{url}?{urlencode(preserved)}" if preserved else url)

    def _next_filters(self, request):
        """The list "save and next" walks: pending, or the one the editor came from."""
        if "_save_next_pending" in request.POST:
            return QueryDict("status__exact=pending")
        if "_save_next_filter" in request.POST:
            return QueryDict(request.GET.get("_changelist_filters", ""))
        return None

    def _next_item(self, request, filters, obj):
        """The id of the item after `obj` in the queue with these filters (the first one if
        `obj` left it), or None. Reads at most NEXT_WINDOW ids in the queue's order."""
        listing = copy.copy(request)
        listing.GET = filters
        listing.method = "GET"
        listing.POST = QueryDict()
        try:
            changelist = self.get_changelist_instance(listing)
        except (IncorrectLookupParameters, PermissionDenied):
            return None
        ids = list(changelist.get_queryset(listing).values_list("pk", flat=True)[:NEXT_WINDOW])
        if obj.pk in ids:
            after = ids[ids.index(obj.pk) + 1 :]
            return after[0] if after else None
        return ids[0] if ids else None
