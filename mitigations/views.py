"""Reader-facing catalogue pages. Every query goes through the visibility policy.

Anonymous readers are served from the page cache (portal/lib/page_cache.py); signed-in users
get renderings of their own.
"""

import functools
from urllib.parse import unquote_plus

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from mitigations import audit, search
from mitigations.charts import figure_chart
from mitigations.filters import MitigationFilter, set_parameters
from mitigations.models import (
    Actor,
    Figure,
    LifecycleStage,
    Mitigation,
    RmfFunction,
    SourceDocument,
    TaxonomyCategory,
)
from mitigations.rendering import render_markdown
from mitigations.speedups import ResultsPaginator
from portal.lib import access, stamps
from portal.lib.compiled import Compiled
from portal.lib.page_cache import cached_for_readers, current_data_version, per_data_version

PAGE_SIZE = 20
# The query parameters a list page reads (the page cache keys on these and no others).
LIST_PARAMS = (*MitigationFilter.base_filters, "page")


def _visible(user):
    return Mitigation.objects.visible_to(user)


def _sees_drafts(user) -> bool:
    """What the catalogue's shared figures (counts, tree) depend on about the user."""
    return access.can_see_drafts(user)


def _visible_for(drafts):
    return Mitigation.objects.all() if drafts else Mitigation.objects.exclude(status="draft")


def _category_tree(drafts):
    """All categories with the number of visible mitigations in each subtree."""
    categories = list(TaxonomyCategory.objects.only("code", "name", "parent", "sort_key"))
    direct = dict(
        _visible_for(drafts)
        .order_by()
        .values("category")
        .annotate(n=Count("pk"))
        .values_list("category", "n")
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


def _tree_html(nodes):
    """templates' taxonomy tree (nested lists) in Python: one template per node cost more than
    the rest of the home page."""
    items = [
        format_html(
            '\n  <li{}>\n    <a href="{}"><span class="code-badge">{}</span> {}</a>\n'
            '    <span class="text-body-secondary small">({})</span>\n    {}\n  </li>',
            "" if node.total else mark_safe(' class="tree-empty"'),  # shown quieter
            node.get_absolute_url(),
            node.code,
            node.name,
            node.total or "none yet",
            _tree_html(node.subtree) if node.subtree else "",
        )
        for node in nodes
    ]
    return mark_safe("<ul>" + "".join(items) + "\n</ul>\n")  # noqa: S308 - format_html above


@per_data_version
def _tree(drafts):
    return _tree_html(_category_tree(drafts))


@per_data_version
def _home_figures(drafts, updated_field):
    """The home page's counts, tree and recent pages: the same for everyone until the data
    changes."""
    visible = _visible_for(drafts)
    counts = visible.order_by().aggregate(
        total=Count("pk"),
        polishing=Count("pk", filter=Q(status=Mitigation.Status.POLISHING)),
    )
    sources = SourceDocument.objects.filter(
        Exists(Mitigation.sources.through.objects.filter(
            sourcedocument=OuterRef("pk"), mitigation__in=visible
        ))
    )  # fmt: skip
    return {
        "counts": counts,
        "source_count": sources.count(),
        "tree_html": _tree(drafts),
        "recent": list(visible.for_list().order_by(f"-{updated_field}")[:5]),
    }


@cached_for_readers
def home(request):
    user = request.user
    figures = _home_figures(_sees_drafts(user), access.updated_field(user))
    return render(request, "mitigations/home.html", figures)


@cached_for_readers
def taxonomy(request):
    return render(
        request, "mitigations/taxonomy.html", {"tree_html": _tree(_sees_drafts(request.user))}
    )


# List parameters that exist only for those who may filter by restricted figures.
REVIEWER_PARAMS = ("restricted",)


def reviewer_params_only_for_reviewers(view):
    """For everyone else, drop the reviewers' list parameters before anything reads the
    request (the page cache's key, the filters, links built from the query string): the
    response is byte for byte the one without them. Other parameters are kept verbatim."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if any(p in request.GET for p in REVIEWER_PARAMS) and not access.can_filter_restricted(
            request.user
        ):
            query = request.GET.copy()
            for name in REVIEWER_PARAMS:
                query.pop(name, None)
            request.GET = query
            request.META["QUERY_STRING"] = "&".join(
                piece
                for piece in request.META.get("QUERY_STRING", "").split("&")
                if unquote_plus(piece.split("=", 1)[0]) not in REVIEWER_PARAMS
            )
        return view(request, *args, **kwargs)

    return wrapper


_SUMMARY_TABLE: dict = {}


def _summary_table():
    """Every page's restricted-figure summary (access.restricted_summary_table), kept for
    the current data version and day only (one table: ~25,000 figures of 10,000 pages, 13 ms
    of PostgreSQL once instead of a query per list page); None while the version is
    unknown."""
    key = (current_data_version(), access.today())
    if key[0] == "-":
        return None
    table = _SUMMARY_TABLE.get(key)
    if table is None:
        table = access.restricted_summary_table()
        _SUMMARY_TABLE.clear()
        _SUMMARY_TABLE[key] = table
    return table


def with_restricted_summaries(mitigations, user):
    """The page's mitigations as a list, each with `restricted_summary` (None unless the
    user may see restricted figures and the page has some): the cards' marker."""
    mitigations = list(mitigations)
    ids = [m.pk for m in mitigations]
    table = _summary_table() if ids and access.can_filter_restricted(user) else None
    summaries = access.restricted_summaries(ids, user, table=table)
    for m in mitigations:
        m.restricted_summary = summaries.get(m.pk)
    return mitigations


@per_data_version
def _vocabulary(drafts):
    """The words "Did you mean" may suggest: from the pages visible with or without drafts
    (so a draft's words never reach a reader), kept per catalogue version."""
    names = [c.name for c in TaxonomyCategory.objects.only("name")]
    for facet in (LifecycleStage, Actor, RmfFunction):
        names += facet.objects.values_list("name", flat=True)
    return search.vocabulary(_visible_for(drafts), names)


def search_vocabulary(user):
    return _vocabulary(_sees_drafts(user))


@per_data_version
def _visible_count(drafts):
    return _visible_for(drafts).count()


def _paginated_list(request, queryset, template, extra, unfiltered_count=None):
    """`unfiltered_count()`: the number of `queryset`'s rows, if known without a query."""
    filterset = MitigationFilter(request.GET or None, queryset=queryset, user=request.user)
    narrowed = filterset.is_bound and filterset.is_valid()
    results = filterset.qs if narrowed else queryset.order_by("name")
    count = None
    if unfiltered_count is not None and not (narrowed and filterset.narrows()):
        count = unfiltered_count()
    # A search keeps Paginator's COUNT (counting in the ranked query made PostgreSQL carry
    # every match's search vector through the window: 8,556 matches of 'model', 112 ms,
    # spilled to disk, against 21 + 25 ms for the two queries), unless it surely finds few
    # pages: then its ranked page and count come in one query.
    searched = narrowed and bool(filterset.form.cleaned_data.get("q"))
    text = search.clean_query(request.GET.get("q", ""))
    few = searched and search.finds_few(text, queryset)
    # A search's snippets are cut from the shown pages' text: fetched with them.
    shown = results.for_list(*(search.SNIPPET_FIELDS if text else ()))
    paginator = ResultsPaginator(shown, PAGE_SIZE)
    paginator.count_in_page = not searched or few
    if count is not None:
        paginator.__dict__["count"] = count  # Paginator.count is a cached_property
    by_name = False
    if searched and not few:  # many matches are listed by name: ranking them all costs
        paginator.object_list = search.by_name_if_many(shown, paginator.count)
        by_name = paginator.object_list is not shown
    page = paginator.get_page(request.GET.get("page"))
    paginator.current = page.number
    mitigations = page.object_list
    suggestion = None
    if text:
        mitigations = search.add_snippets(mitigations, text)
        if not paginator.count:
            suggestion = search.suggest(text, search_vocabulary(request.user))
    query_string = set_parameters(request.GET)
    suggestion_params = request.GET.copy()
    suggestion_params["q"] = suggestion or ""
    return render(
        request,
        template,
        {
            "filter": filterset,
            "page_obj": page,
            "mitigations": with_restricted_summaries(mitigations, request.user),
            "query_string": query_string,
            "search_text": text,
            "suggestion": suggestion,
            "suggestion_query": set_parameters(suggestion_params),
            "active_filters": filterset.active_filters(),
            "filter_errors": filterset.is_bound and not filterset.is_valid(),
            "listed_by_name": by_name,
            **extra,
        },
    )


@reviewer_params_only_for_reviewers
@cached_for_readers(params=LIST_PARAMS)
def mitigation_list(request):
    text = request.GET.get("q", "")
    if search.looks_like_id(text) and not set_parameters(request.GET, drop=("page", "q")):
        # An id on its own goes straight to its page (when the viewer may see it).
        found = _visible(request.user).filter(code__iexact=search.clean_query(text)).first()
        if found is not None:
            return redirect(found)
    user = request.user
    return _paginated_list(
        request,
        _visible(user),
        "mitigations/list.html",
        {},
        unfiltered_count=lambda: _visible_count(_sees_drafts(user)),
    )


@reviewer_params_only_for_reviewers
@cached_for_readers(params=LIST_PARAMS)
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


@reviewer_params_only_for_reviewers
@cached_for_readers(params=LIST_PARAMS)
def source_detail(request, key):
    source = get_object_or_404(SourceDocument, key=key)
    queryset = _visible(request.user).filter(sources=source)
    return _paginated_list(request, queryset, "mitigations/source.html", {"source": source})


def mitigation_by_code(request, code):
    mitigation = get_object_or_404(_visible(request.user), code__iexact=code)
    return redirect(mitigation, permanent=False)


FACETS = (
    ("Lifecycle stage", "lifecycle", LifecycleStage),
    ("Actor", "actor", Actor),
    ("AI RMF function", "rmf", RmfFunction),
)


@per_data_version
def _tables():
    """The catalogue's small tables (facets, sources, taxonomy), once per data version:
    {"lifecycle" / "actor" / "rmf" / "sources" / "categories": {id: object}}. A category's
    `parent` is set from the same table, so ancestors need no query."""
    tables = {name: {f.pk: f for f in model.objects.all()} for _, name, model in FACETS}
    tables["sources"] = {s.pk: s for s in SourceDocument.objects.all()}
    categories = {c.pk: c for c in TaxonomyCategory.objects.all()}
    for c in categories.values():
        TaxonomyCategory.parent.field.set_cached_value(c, categories.get(c.parent_id))
    tables["categories"] = categories
    return tables


# One mitigation's links (other facets, sources, related pages) as (kind, id): the five link
# tables in one statement. Names come from the models' metadata.
_LINKS = (*(name + "_other" for _, name, _ in FACETS), "sources", "related")


@functools.cache
def _links_sql():
    q = connection.ops.quote_name
    parts = []
    for i, field_name in enumerate(_LINKS):
        field = Mitigation._meta.get_field(field_name)
        through = field.remote_field.through._meta
        parts.append(
            f"SELECT {i}, {q(field.m2m_reverse_name())} FROM {q(through.db_table)} "  # noqa: S608
            f"WHERE {q(field.m2m_column_name())} = %s"
        )
    return " UNION ALL ".join(parts)


def _links_of(mitigation):
    """{link field name: [ids]} of one mitigation (one query)."""
    links = {name: [] for name in _LINKS}
    with connection.cursor() as cursor:
        cursor.execute(_links_sql(), [mitigation.pk] * len(_LINKS))
        for i, linked_id in cursor.fetchall():
            links[_LINKS[i]].append(linked_id)
    return links


def _facets_of(mitigation, links, tables):
    """(label, primary, others) per facet, from the page's links and the small tables."""
    rows = []
    for label, name, _ in FACETS:
        by_id = tables[name]
        chosen = sorted(
            (by_id[i] for i in links[f"{name}_other"] if i in by_id),
            key=lambda f: (f.position, f.name),
        )
        rows.append((label, by_id.get(getattr(mitigation, f"{name}_primary_id")), chosen))
    return rows


def _set_category(mitigation, categories):
    """The mitigation's category from the per-data-version table (instead of a join)."""
    category = categories.get(mitigation.category_id)
    if category is None:  # created since the table was read
        category = TaxonomyCategory.objects.get(pk=mitigation.category_id)
    Mitigation.category.field.set_cached_value(mitigation, category)


# The detail page's page, related pages and figures: SQL compiled once per process
# (portal/lib/compiled.py).
_page_by_slug = Compiled(
    lambda slug, drafts: _visible_for(drafts).defer("search_vector", "created_at").filter(slug=slug)
)
_related_of = Compiled(
    lambda page_id, drafts: (
        _visible_for(drafts)
        .filter(
            pk__in=Mitigation.related.through.objects.filter(from_mitigation_id=page_id).values(
                "to_mitigation_id"
            )
        )
        .only("code", "name", "slug", "definition", "status", "category_id")
        .order_by("name")
    )
)
_figures_of = Compiled(
    lambda page_id, _: Figure.objects.filter(mitigation_id=page_id).order_by("position", "key")
)


# The page reads the feedback links' choices (part, kind) and the helpful answer it thanks for.
@cached_for_readers(params=("part", "kind", "helpful"))
def mitigation_detail(request, slug):
    user = request.user
    found = _page_by_slug(slug, _sees_drafts(user))  # the policy's variant: drafts or not
    if not found:
        raise Http404("No such page")
    mitigation = found[0]
    tables = _tables()
    categories = tables["categories"]
    _set_category(mitigation, categories)
    links = _links_of(mitigation)
    related = []
    if links["related"]:
        related = _related_of(mitigation.pk, _sees_drafts(user))
        for m in related:
            _set_category(m, categories)
    mitigation.visible_related = with_restricted_summaries(related, user)
    # The page is visible: its figures in one query, split by the policy.
    figures, hidden_count = access.split_figures(_figures_of(mitigation.pk), user)
    restricted = [f for f in figures if access.figure_is_restricted(f)]
    stamp = None
    if restricted:  # a per-viewer stamp (signed-in pages are rendered for each viewer)
        stamp = stamps.for_viewer(user, access.today())
        audit.record_restricted_view(user, mitigation)
    context = {
        "mitigation": mitigation,
        "updated": access.updated_at(mitigation, user),
        "ancestors": mitigation.category.ancestors(),
        "additional_html": render_markdown(mitigation.additional_information),
        "figures": figures,
        "restricted_figures": restricted,
        "restricted_summary": access.restricted_summary_of(figures),
        "stamp": stamp,
        "hidden_figure_count": hidden_count,
        "chart": figure_chart(figures, stamp=stamp),
        "facets": _facets_of(mitigation, links, tables),
        "sources": sorted(
            (tables["sources"][i] for i in links["sources"] if i in tables["sources"]),
            key=lambda s: (-s.year, s.title),
        ),
    }
    return render(request, "mitigations/detail.html", context)
