"""Reader-facing catalogue pages. Every query goes through the visibility policy.

The pages are cached per policy variant (portal/lib/page_cache.py); on a rendering shared by a
variant, templates see the signed-in user only as `page_cache.template_user` (set by
portal.context_processors), so a view must not put the user into its context itself.
"""

from django.db.models import Count, Prefetch, Q
from django.shortcuts import get_object_or_404, redirect, render

from mitigations import audit
from mitigations.charts import figure_chart
from mitigations.filters import MitigationFilter
from mitigations.models import (
    Figure,
    Mitigation,
    SourceDocument,
    TaxonomyCategory,
)
from mitigations.rendering import render_markdown
from mitigations.speedups import ResultsPaginator
from portal.lib import access
from portal.lib.page_cache import page_version, role_cached

PAGE_SIZE = 20
# The query parameters a list page reads (the page cache keys on these and no others).
LIST_PARAMS = (*MitigationFilter.base_filters, "page")


def _visible(user):
    return Mitigation.objects.visible_to(user)


def _category_tree(user):
    """All categories with the number of visible mitigations in each subtree."""
    categories = list(TaxonomyCategory.objects.all())
    direct = dict(
        _visible(user).values("category").annotate(n=Count("pk")).values_list("category", "n")
    )
    by_id = {c.pk: c for c in categories}
    for c in categories:
        c.total = 0
        c.subtree = []
    for c in categories:
        n = direct.get(c.pk, 0)
        node = c
        while node is not None:
            node.total += n
            node = by_id.get(node.parent_id)
        if c.parent_id in by_id:
            by_id[c.parent_id].subtree.append(c)
    return [c for c in categories if c.parent_id is None]


@role_cached
def home(request):
    visible = _visible(request.user)
    counts = visible.aggregate(
        total=Count("pk"),
        polishing=Count("pk", filter=Q(status=Mitigation.Status.POLISHING)),
    )
    return render(
        request,
        "mitigations/home.html",
        {
            "counts": counts,
            "source_count": SourceDocument.objects.filter(mitigations__in=visible)
            .distinct()
            .count(),
            "tree": _category_tree(request.user),
            "recent": visible.for_list().order_by(f"-{access.updated_field(request.user)}")[:5],
        },
    )


@role_cached
def taxonomy(request):
    return render(request, "mitigations/taxonomy.html", {"tree": _category_tree(request.user)})


def _paginated_list(request, queryset, template, extra):
    filterset = MitigationFilter(request.GET or None, queryset=queryset, user=request.user)
    results = (
        filterset.qs if filterset.is_bound and filterset.is_valid() else queryset.order_by("name")
    )
    paginator = ResultsPaginator(results.for_list(), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    paginator.current = page.number
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        template,
        {
            "filter": filterset,
            "page_obj": page,
            "mitigations": page.object_list,
            "query_string": query.urlencode(),
            "active_filters": filterset.active_filters(),
            "filter_errors": filterset.is_bound and not filterset.is_valid(),
            **extra,
        },
    )


@role_cached(params=LIST_PARAMS)
def mitigation_list(request):
    return _paginated_list(request, _visible(request.user), "mitigations/list.html", {})


@role_cached(params=LIST_PARAMS)
def category_detail(request, code):
    category = get_object_or_404(TaxonomyCategory, code=code)
    key = category.sort_key
    queryset = _visible(request.user).filter(
        Q(category__sort_key=key) | Q(category__sort_key__startswith=key + ".")
    )
    children = category.children.all()
    return _paginated_list(
        request,
        queryset,
        "mitigations/category.html",
        {
            "category": category,
            "ancestors": category.ancestors(),
            "children": children,
        },
    )


@role_cached(params=LIST_PARAMS)
def source_detail(request, key):
    source = get_object_or_404(SourceDocument, key=key)
    queryset = _visible(request.user).filter(sources=source)
    return _paginated_list(request, queryset, "mitigations/source.html", {"source": source})


def mitigation_by_code(request, code):
    mitigation = get_object_or_404(_visible(request.user), code__iexact=code)
    return redirect(mitigation, permanent=False)


def _thread_state(request, slug):
    """Part of the page's cache key for those who see the reviewers' thread: its version,
    bumped by the feedback app whenever feedback on the page changes (feedback/page_context.py)."""
    if not access.can_see_reviewer_thread(request.user):
        return ""
    return f"thread:{page_version(slug)}"


def _record_restricted_view(request, meta):
    """On a cached hit: the audit record the view writes when it shows restricted figures."""
    if meta.get("restricted_view_of"):
        audit.record_restricted_view(request.user, Mitigation(pk=meta["restricted_view_of"]))


@role_cached(vary=_thread_state, on_hit=_record_restricted_view)
def mitigation_detail(request, slug):
    user = request.user
    queryset = (
        _visible(user)
        .select_related(
            "category__parent__parent", "lifecycle_primary", "actor_primary", "rmf_primary"
        )
        .prefetch_related(
            "lifecycle_other",
            "actor_other",
            "rmf_other",
            "sources",
            Prefetch(
                "related",
                queryset=_visible(user).select_related("category").order_by("name"),
                to_attr="visible_related",
            ),
        )
    )
    mitigation = get_object_or_404(queryset, slug=slug)
    figures = list(Figure.objects.visible_to(user).filter(mitigation=mitigation))
    restricted = [f for f in figures if access.figure_is_restricted(f)]
    hidden_count = Figure.objects.hidden_from(user).filter(mitigation=mitigation).count()
    if restricted:
        audit.record_restricted_view(user, mitigation)
        meta = getattr(request, "page_cache_meta", None)
        if meta is not None:  # rendered for the cache: a hit must write the record too
            meta["restricted_view_of"] = mitigation.pk
    context = {
        "mitigation": mitigation,
        "updated": access.updated_at(mitigation, user),
        "ancestors": mitigation.category.ancestors(),
        "additional_html": render_markdown(mitigation.additional_information),
        "figures": figures,
        "restricted_figures": restricted,
        "hidden_figure_count": hidden_count,
        "chart": figure_chart(figures),
        "facets": [
            ("Lifecycle stage", mitigation.lifecycle_primary, mitigation.lifecycle_other.all()),
            ("Actor", mitigation.actor_primary, mitigation.actor_other.all()),
            ("AI RMF function", mitigation.rmf_primary, mitigation.rmf_other.all()),
        ],
    }
    return render(request, "mitigations/detail.html", context)
