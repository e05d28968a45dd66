"""The moderation queue's sidebar filters: page code, taxonomy category, kind of submitter.

Built for a million rows: the page is typed in (no list of 800 pages), the category filter
sends the matching page ids as one array parameter on PostgreSQL. The lists of choices are
shown as Django's admin/filter.html shows them, made in Python (rows.filter_html).
"""

from django.contrib import admin
from django.db import connections
from django.db.models import BooleanField, F, Field, Func, Value

from feedback.models import due_cutoff, open_work_q
from mitigations.models import Mitigation, TaxonomyCategory
from portal.lib.page_cache import per_data_version


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


@per_data_version
def _categories():
    """(code, name, sort_key) of every taxonomy category, in order (catalogue data: kept
    per data version, like the public list's filters)."""
    return tuple(
        TaxonomyCategory.objects.order_by("sort_key").values_list("code", "name", "sort_key")
    )


class CategoryFilter(admin.SimpleListFilter):
    """The taxonomy category of the page, including everything below it.

    A short tree: the first two levels, and below the chosen category its path and its
    children (not all 140-odd codes at once)."""

    title = "taxonomy category of the page"
    parameter_name = "category"

    def lookups(self, request, model_admin):
        rows = _categories()
        # Kept for queryset(), which then needs no query of its own for the chosen category.
        self.sort_keys = {code: key for code, _, key in rows}
        chosen = self.value() or ""
        path = {".".join(chosen.split(".")[:i]) for i in range(1, chosen.count(".") + 2)}

        def shown(code):
            parent = code.rpartition(".")[0]
            return code.count(".") < 2 or code in path or parent in path

        return [(code, f"{code} {name}") for code, name, _ in rows if shown(code)]

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


class ClaimFilter(admin.SimpleListFilter):
    """Who handles an item: "mine" is the open work claimed by the editor looking."""

    title = "claimed"
    parameter_name = "claimed"

    def lookups(self, request, model_admin):
        return [("me", "Mine (open)"), ("anyone", "By anyone"), ("nobody", "Not claimed")]

    def queryset(self, request, queryset):
        match self.value():
            case "me":
                return queryset.filter(open_work_q(), claimed_by=request.user)
            case "anyone":
                return queryset.filter(claimed_by__isnull=False)
            case "nobody":
                return queryset.filter(claimed_by__isnull=True)
        return queryset


class DueFilter(admin.SimpleListFilter):
    """Open work past its due date (FEEDBACK_DUE_DAYS after it came in)."""

    title = "due date"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("open", "All open"), ("overdue", "Overdue"), ("on_time", "Open, not yet due")]

    def queryset(self, request, queryset):
        match self.value():
            case "open":
                return queryset.filter(open_work_q())
            case "overdue":
                return queryset.filter(open_work_q(), created_at__lt=due_cutoff())
            case "on_time":
                return queryset.filter(open_work_q(), created_at__gte=due_cutoff())
        return queryset


class OutdatedFilter(admin.SimpleListFilter):
    """Possibly outdated: the item's section of the page changed since it was written."""

    title = "page since"
    parameter_name = "outdated"

    def lookups(self, request, model_admin):
        return [("yes", "Section changed since (possibly outdated)")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(page_changed_at__isnull=False)
        return queryset
