"""The moderation queue in the Django admin (editors only).

Every change goes through feedback.services.moderate: bulk actions, the intermediate
"reply" page and the change form alike. Built for a large table: pending-first ordering on
an index, a capped result count, cached status counts, a date drill-down without DISTINCT
scans, and no per-row queries.
"""

import csv
import difflib
import html
import re
import secrets
import unicodedata
from urllib.parse import quote_plus

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.templatetags.admin_list import ResultList, result_headers
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import display_for_value
from django.contrib.admin.views.main import ChangeList
from django.core.cache import cache
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import BooleanField, Count, F, Field, Func, Q, Value
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.template.loader import select_template
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import dateformat, formats, timezone
from django.utils.encoding import iri_to_uri
from django.utils.functional import cached_property
from django.utils.html import conditional_escape, escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import (
    Truncator,
    add_truncation_text,
    calculate_truncate_chars_length,
    smart_split,
    unescape_string_literal,
)
from django.utils.translation import gettext, pgettext
from simple_history.admin import SimpleHistoryAdmin

from feedback import services
from feedback.models import Feedback
from mitigations.models import Mitigation, TaxonomyCategory
from portal.lib import access
from portal.lib.admin_safety import SafeChangelistMixin

STATUS_COUNTS_KEY = "feedback:admin:status-counts"
STATUS_COUNTS_SECONDS = 30
COUNT_CAP = 10_000


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


# --- Filters -------------------------------------------------------------------------------


def _escape(value):
    """conditional_escape() without its lazy-string wrapper (called thousands of times)."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


class InArray(Func):
    """PostgreSQL `column = ANY(%s::bigint[])`: a list of ids as one parameter.

    An expression (not raw SQL), so that the column keeps its alias when the queryset becomes
    a subquery (services.moderate selects `pk__in=queryset`).
    """

    arg_joiner = " = ANY("
    template = "%(expressions)s::bigint[])"
    output_field = BooleanField()

    def __init__(self, column, ids):
        super().__init__(column, Value(list(ids), output_field=Field()))


class PageFilter(admin.SimpleListFilter):
    """Filter by the page's code, typed in (no list of 800 pages in the sidebar)."""

    title = "page (mitigation id)"
    parameter_name = "page"
    template = "admin/feedback/input_filter.html"

    def lookups(self, request, model_admin):
        # One dummy choice so that the filter is shown; the template renders a text box.
        return [("", "")]

    def queryset(self, request, queryset):
        code = (self.value() or "").strip()
        if code:
            return queryset.filter(mitigation__code__iexact=code[:20])
        return queryset

    def choices(self, changelist):
        # The other active filters, kept as hidden fields of the filter's GET form.
        yield {
            "value": self.value() or "",
            "hidden": [(k, v) for k, v in changelist.params.items() if k != self.parameter_name],
            "clear": changelist.get_query_string(remove=[self.parameter_name]),
        }


class CategoryFilter(admin.SimpleListFilter):
    """The taxonomy category of the page, including everything below it."""

    title = "taxonomy category of the page"
    parameter_name = "category"
    template = "admin/feedback/choice_filter.html"

    def lookups(self, request, model_admin):
        rows = TaxonomyCategory.objects.order_by("sort_key").values_list("code", "name", "sort_key")
        # Kept for queryset(), which then needs no query of its own for the chosen category.
        self.sort_keys = {code: key for code, _, key in rows}
        return [(code, f"{code} {name}") for code, name, _ in rows]

    def queryset(self, request, queryset):
        code = self.value()
        if not code:
            return queryset
        sort_keys = getattr(self, "sort_keys", None)
        if sort_keys is None:
            sort_keys = dict(
                TaxonomyCategory.objects.filter(code=code).values_list("code", "sort_key")
            )
        key = sort_keys.get(code)
        if key is None:
            return queryset.none()
        # The page ids first (a few hundred at most): with the literal list the database
        # estimates the match well and picks the queue index or the page index accordingly.
        pages = list(
            Mitigation.objects.filter(
                category__sort_key__gte=key, category__sort_key__lte=key + ".~"
            ).values_list("pk", flat=True)
        )
        if not pages:
            return queryset.none()
        if connections[queryset.db].vendor == "postgresql":
            # One array parameter instead of hundreds of placeholders: the same constant list
            # for the planner, without building and converting a long SQL text twice.
            return queryset.filter(InArray(F("mitigation_id"), pages))
        return queryset.filter(mitigation__in=pages)

    def choices(self, changelist):
        """SimpleListFilter's choices, each with its list item ready-made ("html").

        One query string is encoded, with a placeholder for the category, and the one of
        each of the 140-odd categories is made from it, instead of encoding every parameter
        again per category; the template prints the items instead of building each.
        """
        if changelist.add_facets:
            choices = list(super().choices(changelist))
        else:
            value = self.value()
            placeholder = quote_plus(secrets.token_hex(8))
            query = changelist.get_query_string({self.parameter_name: placeholder})
            placeholder = quote_plus(placeholder)
            choices = [
                {
                    "selected": value is None,
                    "query_string": changelist.get_query_string(remove=[self.parameter_name]),
                    "display": gettext("All"),
                }
            ]
            choices += [
                {
                    "selected": value == str(lookup),
                    "query_string": query.replace(placeholder, quote_plus(str(lookup))),
                    "display": title,
                }
                for lookup, title in self.lookup_choices
            ]
        for choice in choices:
            selected = ' class="selected"' if choice["selected"] else ""
            choice["html"] = mark_safe(  # noqa: S308 - the values are escaped
                f"\n    <li{selected}>\n    "
                f'<a href="{_escape(iri_to_uri(choice["query_string"]))}">'
                f"{_escape(choice['display'])}</a></li>\n  "
            )
        return choices


class SubmitterFilter(admin.SimpleListFilter):
    title = "submitted by"
    parameter_name = "by"

    def lookups(self, request, model_admin):
        return [
            ("anonymous", "Anonymous readers"),
            ("signed_in", "Signed in, no role"),
            ("reviewer", "Reviewers and editors"),
        ]

    def queryset(self, request, queryset):
        match self.value():
            case "anonymous":
                return queryset.filter(user__isnull=True)
            case "signed_in":
                return queryset.filter(user__isnull=False, by_reviewer=False)
            case "reviewer":
                return queryset.filter(by_reviewer=True)
        return queryset


# --- Diff between the page version the feedback was written against and today ------------

DIFF_FIELDS = [
    ("name", "Title"),
    ("definition", "Definition"),
    ("additional_information", "Additional information"),
    ("reasoning", "Reasoning"),
    ("classified_by", "Classified by"),
    ("category_id", "Category"),
    ("status", "Status"),
]
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")


def word_diff(old: str, new: str) -> str:
    """HTML of `new` with deletions and insertions marked; all text escaped."""
    a, b = _TOKENS.findall(old or ""), _TOKENS.findall(new or "")
    parts = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            parts.append(escape("".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            parts.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            parts.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece above is escaped


def page_changes(item):
    """[(label, diff html)] for the page fields that changed since the feedback's version.

    None when there is nothing to compare with (no page, or the version is unknown).
    """
    if not item.mitigation_id or not item.page_version:
        return None
    old = Mitigation.history.filter(history_id=item.page_version).first()
    if old is None or old.id != item.mitigation_id:
        return None
    current = item.mitigation
    codes = dict(
        TaxonomyCategory.objects.filter(pk__in=[old.category_id, current.category_id]).values_list(
            "pk", "code"
        )
    )
    changes = []
    for field, label in DIFF_FIELDS:
        before, after = getattr(old, field), getattr(current, field)
        if field == "category_id":
            before, after = codes.get(before, before), codes.get(after, after)
        if before != after:
            changes.append((label, word_diff(str(before or ""), str(after or ""))))
    return changes


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


# --- CSV export ----------------------------------------------------------------------------

CSV_COLUMNS = [
    "id",
    "created_at",
    "page_code",
    "page_name",
    "page_version",
    "section",
    "kind",
    "proposed_category",
    "status",
    "resolution",
    "comment",
    "public_reply",
    "submitter",
    "by_reviewer",
    "name",
    "email",
    "moderated_by",
    "moderated_at",
]


class _Echo:
    def write(self, value):
        return value


def _cell(value):
    """Text safe to open in a spreadsheet (no formulas)."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _csv_rows(queryset):
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(CSV_COLUMNS)
    rows = queryset.select_related(
        "mitigation", "user", "proposed_category", "moderated_by"
    ).iterator(chunk_size=2000)
    for item in rows:
        yield writer.writerow(
            [
                _cell(v)
                for v in [
                    item.pk,
                    timezone.localtime(item.created_at).isoformat(timespec="seconds"),
                    item.mitigation.code if item.mitigation_id else "",
                    item.mitigation.name if item.mitigation_id else "",
                    item.page_version,
                    item.section,
                    item.kind,
                    item.proposed_category.code if item.proposed_category_id else "",
                    item.status,
                    item.resolution,
                    item.comment,
                    item.public_reply,
                    item.user.get_username() if item.user_id else "",
                    item.by_reviewer,
                    item.name,
                    item.email if item.contact_consent else "",
                    item.moderated_by.get_username() if item.moderated_by_id else "",
                    item.moderated_at.isoformat(timespec="seconds") if item.moderated_at else "",
                ]
            ]
        )


def csv_response(queryset, filename="feedback.csv"):
    response = StreamingHttpResponse(_csv_rows(queryset), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- The result rows, built in Python -----------------------------------------------------

_PK = "0fastpk0"  # stands for the pk in a change URL reversed once per page
_SLUG = "0fastslug0"  # stands for the slug in a page URL reversed once per page
_PLAIN_SLUG = re.compile(r"[-a-zA-Z0-9_]+")
# Big page columns the list never shows (the search vector alone is most of the row).
LIST_DEFERRED = [
    "mitigation__definition",
    "mitigation__additional_information",
    "mitigation__reasoning",
    "mitigation__search_vector",
]


def truncate_chars(text, length):
    """Truncator(text).chars(length), faster for short and for ASCII text (most comments).

    Django walks the text character by character (combining characters do not count) and
    looks the translated ellipsis up twice; ASCII text has no combining characters, so the
    cut is simply at the length less the ellipsis.
    """
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    if len(text) <= length:
        return text
    ellipsis = pgettext("String to return when truncating text", "%(truncated_text)s…")
    if text.isascii():
        return add_truncation_text(
            text[: calculate_truncate_chars_length(length, ellipsis)], ellipsis
        )
    return Truncator(text).chars(length, truncate=ellipsis)


class PageUrls:
    """The two links of the "Page" column, each reversed once instead of once per row."""

    def __init__(self):
        self.changelist = escape(reverse("admin:feedback_feedback_changelist"))
        self.detail = reverse("mitigations:detail", args=[_SLUG])

    def page_url(self, mitigation):
        if _PLAIN_SLUG.fullmatch(mitigation.slug):
            return self.detail.replace(_SLUG, mitigation.slug)
        return mitigation.get_absolute_url()

    def link(self, obj):
        if not obj.mitigation_id:
            return "General"
        page = obj.mitigation
        code = _escape(page.code)
        return mark_safe(  # noqa: S308 - every value is escaped
            f'<a href="{self.changelist}?page={code}" title="Feedback on this page">{code}</a> '
            f'<a href="{_escape(self.page_url(page))}">{_escape(truncate_chars(page.name, 40))}</a>'
        )


class FeedbackChangeList(ChangeList):
    """Django's changelist, with the result rows built in Python, one string a row.

    The stock rows go through lookup_field, display_for_field and format_html per cell, a
    widget template per checkbox, and reverse() and resolve() per change link: most of the
    page's CPU for 50 rows. These rows are the same HTML (tests/feedback/test_admin_scale.py
    compares them with Django's); a column, link or mode this class does not know (another
    list_display entry, list_editable, a popup) falls back to Django's rows.
    """

    def get_results(self, request):
        queryset = self.queryset
        self.queryset = queryset.defer(*LIST_DEFERRED)
        try:
            super().get_results(request)
        finally:
            self.queryset = queryset

    def results_table(self):
        """The result table (Django's change_list_results template), or None if unsupported."""
        rows = self.fast_rows()
        if rows is None:
            return None
        headers = list(result_headers(self))
        opts = self.opts
        template = select_template(
            [
                f"admin/{opts.app_label}/{opts.model_name}/change_list_results.html",
                f"admin/{opts.app_label}/change_list_results.html",
                "admin/change_list_results.html",
            ]
        )
        return template.render(
            {
                "cl": self,
                "result_hidden_fields": [],
                "result_headers": headers,
                "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
                "results": [ResultList(None, [row]) for row in rows],
            }
        )

    def fast_rows(self):
        """[row html] for the page, or None where Django's own rows are needed."""
        if self.formset or self.is_popup or self.to_field:
            return None
        if list(self.list_display_links or []) != ["summary"]:
            return None
        cells = [self._cell(name) for name in self.list_display]
        if None in cells:
            return None
        return [SafeString("".join([cell(obj) for cell in cells])) for obj in self.result_list]

    def _cell(self, name):
        """A function obj -> the cell's html (as items_for_result makes it), or None."""
        model_admin = self.model_admin
        empty = model_admin.get_empty_value_display()
        if name == "action_checkbox":
            label = gettext("Select this object for an action - {}")
            return lambda obj: (
                f'<td class="action-checkbox"><input type="checkbox" '
                f'name="{helpers.ACTION_CHECKBOX_NAME}" value="{_escape(obj.pk)}" '
                f'class="action-select" aria-label="{label.format(_escape(obj))}"></td>'
            )
        if name == "summary":
            change = reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_change",
                args=[_PK],
                current_app=model_admin.admin_site.name,
            )
            change = add_preserved_filters(
                {"preserved_filters": self.preserved_filters, "opts": self.opts}, change
            )
            head, _, tail = (escape(part) for part in change.partition(_PK))
            summary = model_admin.summary
            return lambda obj: (
                f'<th class="field-summary"><a href="{head}{int(obj.pk)}{tail}">'
                f"{_escape(summary(obj))}</a></th>"
            )
        if name == "page_link":
            urls = PageUrls()
            return lambda obj: f'<td class="field-page_link">{_escape(urls.link(obj))}</td>'
        if name == "submitter_display":
            method = model_admin.submitter_display
            return lambda obj: (
                f'<td class="field-submitter_display">'
                f"{_escape(display_for_value(method(obj), empty))}</td>"
            )
        try:
            field = self.opts.get_field(name)
        except FieldDoesNotExist:  # an admin method or attribute: Django's rows
            return None
        attname = field.attname
        if field.flatchoices:
            labels = {value: conditional_escape(label) for value, label in field.flatchoices}
            empty_html = conditional_escape(empty)
            return lambda obj: (
                f'<td class="field-{name}">{labels.get(getattr(obj, attname), empty_html)}</td>'
            )
        if field.get_internal_type() == "DateTimeField":
            # What formats.localize() does for a datetime, with the format looked up once.
            datetime_format = formats.get_format("DATETIME_FORMAT")

            def datetime_cell(obj):
                value = getattr(obj, attname)
                if value is None:
                    text = empty
                else:
                    text = dateformat.format(timezone.template_localtime(value), datetime_format)
                return f'<td class="field-{name} nowrap">{_escape(text)}</td>'

            return datetime_cell
        return None


# --- The admin -----------------------------------------------------------------------------


@admin.register(Feedback)
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
    fieldsets = [
        (
            "Feedback",
            {
                "fields": [
                    "page_link",
                    "page_version",
                    "section",
                    "kind",
                    "proposed_category",
                    "comment",
                    "created_at",
                ]
            },
        ),
        (
            "Submitted by",
            {
                "fields": [
                    "user",
                    "by_reviewer",
                    "name",
                    "contact_email",
                    "contact_consent",
                ]
            },
        ),
        (
            "Moderation",
            {
                "fields": [
                    "status",
                    "resolution",
                    "public_reply",
                    "moderated_by",
                    "moderated_at",
                ]
            },
        ),
        ("The page since this feedback", {"fields": ["page_diff"]}),
    ]
    readonly_fields = [
        "page_link",
        "page_version",
        "section",
        "kind",
        "proposed_category",
        "comment",
        "created_at",
        "user",
        "by_reviewer",
        "name",
        "contact_email",
        "contact_consent",
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
