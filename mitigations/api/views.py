"""/api/v1/: the catalogue as JSON, under the same visibility policy as the pages.

Every query starts from `Mitigation.objects.visible_to(user)` or
`Figure.objects.visible_to(user)` (portal/lib/access.py), with the user the request acts
for (mitigations/api/auth.py). The list takes the list page's filters, search and sorts
(mitigations/filters.py). Field names are documented once, in mitigations/api/schemas.py.
"""

import datetime
import functools

from django.core.paginator import EmptyPage, Paginator
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils.dateparse import parse_date, parse_datetime
from ninja import NinjaAPI, Query
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.openapi.views import openapi_json

from mitigations import search
from mitigations.api import ratelimit, responses, schemas, serialize
from mitigations.api.auth import AUTH, presented_token
from mitigations.api.docs import LocalSwagger
from mitigations.api.errors import ApiError, error_response, from_exception
from mitigations.filters import SORTS, MitigationFilter
from mitigations.models import Figure, Mitigation, SourceDocument, TaxonomyCategory
from portal.lib import access

MAX_QUERY_STRING = 1024
PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
ERRORS = dict.fromkeys((400, 401, 404, 414, 429), schemas.ErrorBody)
LIST_PARAMS = {"q", "category", "lifecycle", "actor", "rmf", "source", "status", "sort"}
PAGE_PARAMS = {"page", "page_size"}


class Api(NinjaAPI):
    def get_openapi_operation_id(self, operation):
        return operation.view_func.__name__  # list_mitigations, get_mitigation, …

    def get_openapi_schema(self, **kwargs):
        """Anonymous access is allowed everywhere: `{}` among each operation's security."""
        schema = super().get_openapi_schema(**kwargs)
        for path in schema["paths"].values():
            for operation in path.values():
                if operation.get("security"):
                    operation["security"] = [{}, *operation["security"]]
        return schema


def _schema_and_docs(view):
    """The schema (built once per process: it depends only on the code) is public, cacheable
    and open to other origins; the docs page shows the signed-in user, so it stays private."""
    built = {}

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if view.func is not openapi_json:
            response = view(request, *args, **kwargs)
            response["Cache-Control"] = "private, no-cache"
            return response
        if "body" not in built:
            built["body"] = view(request, *args, **kwargs).content
        response = HttpResponse(built["body"], content_type="application/json")
        response["Cache-Control"] = "public, max-age=300"
        response["Access-Control-Allow-Origin"] = "*"
        return response

    return wrapper


api = Api(
    title="AI Risk Mitigation Portal API",
    version="1",
    description=(
        "Read access to the mitigation catalogue. Anonymous requests see public data; "
        "a personal token (`Authorization: Bearer …`, created on the account page by "
        "reviewers and editors) or a signed-in session acts with its owner's current role. "
        'Errors are `{"error": {"code", "message", "parameter"?}}`. '
        "See docs/api.md."
    ),
    urls_namespace="api-v1",
    auth=AUTH,
    docs=LocalSwagger(),
    docs_decorator=_schema_and_docs,
    openapi_extra={"info": {"license": {"name": "See the portal's terms"}}},
)


# --- Cross-cutting: limits, errors, headers --------------------------------------------------


def _cross_cutting(run):
    @functools.wraps(run)
    def wrapper(request, *args, **kwargs):
        if len(request.META.get("QUERY_STRING", "")) > MAX_QUERY_STRING:
            return responses.finish(
                request,
                error_response(
                    414, "query_too_long", f"The query string exceeds {MAX_QUERY_STRING} bytes."
                ),
            )
        token = presented_token(request)
        quota = ratelimit.check(request, token)
        if quota.exceeded:
            response = error_response(
                429, "rate_limited", f"Too many requests; retry in {quota.retry_after} s."
            )
        else:
            response = run(request, *args, **kwargs)
            if response.status_code == 401 and token is not None:
                ratelimit.failed_token(request)
        return responses.finish(request, response, quota)

    return wrapper


api.add_decorator(_cross_cutting, mode="view")  # around the whole operation


@api.exception_handler(ApiError)
def _api_error(request, exc):
    return from_exception(exc)


@api.exception_handler(ValidationError)
def _validation_error(request, exc):
    first = exc.errors[0] if exc.errors else {}
    where = [str(p) for p in first.get("loc", ()) if p not in ("query", "path")]
    name = where[-1] if where else None
    message = first.get("msg", "Invalid input")
    return error_response(
        400, "invalid_parameter", f"{name}: {message}" if name else message, parameter=name
    )


@api.exception_handler(AuthenticationError)
def _auth_error(request, exc):
    return error_response(401, "invalid_token", "Authentication failed.")


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error_response(404, "not_found", "Not found.")


@api.exception_handler(HttpError)
def _http_error(request, exc):
    return error_response(exc.status_code, "error", str(exc.message))


def _head_and_json_405(view):
    """HEAD is a GET without the body; other methods get a JSON 405."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        head = request.method == "HEAD"
        if head:
            request.method = "GET"
        response = view(request, *args, **kwargs)
        if head and not response.streaming:
            length = len(response.content)
            response.content = b""
            response["Content-Length"] = str(length)
        if response.status_code == 405:
            allowed = response.get("Allow", "GET")
            response = error_response(405, "method_not_allowed", "The API is read-only: GET.")
            response["Allow"] = allowed + ", HEAD"
        return response

    return wrapper


def urls():
    """The API's URL patterns (api.urls), with HEAD and JSON 405s."""
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        pattern.callback = _head_and_json_405(pattern.callback)
    return patterns, app_name, namespace


def not_found(request, rest=""):
    """Any other path under /api/: a JSON 404."""
    return error_response(404, "not_found", "No such API endpoint. See /api/v1/docs.")


# --- Helpers ---------------------------------------------------------------------------------


def _user(request):
    return responses.actor(request)


def _base_url(request) -> str:
    return request.build_absolute_uri("/")[:-1]


def _only_params(request, allowed):
    for name in request.GET:
        if name not in allowed:
            raise ApiError(
                400,
                "invalid_parameter",
                f"Unknown query parameter {name[:40]!r}.",
                parameter=name[:40],
            )


def _paginate(request, queryset, page, page_size):
    paginator = Paginator(queryset, page_size)
    paginator.object_list = search.by_name_if_many(queryset, paginator.count)  # as the list page
    try:
        current = paginator.page(page)
    except EmptyPage:
        raise ApiError(
            404, "page_out_of_range", f"There is no page {page} of these results.", parameter="page"
        ) from None
    if current.start_index() > 1:
        # A deferred join: the page's ids first (walking the order's index past the offset
        # without the related rows' joins), then only its rows (page 50 of the mitigations:
        # 1,000 rows joined to 20).
        ids = list(current.object_list.values_list("pk", flat=True))
        rows = {row.pk: row for row in queryset.filter(pk__in=ids).order_by()}
        current.object_list = [rows[pk] for pk in ids if pk in rows]

    def link(number):
        query = request.GET.copy()
        query["page"] = str(number)
        return request.build_absolute_uri(request.path) + "?" + query.urlencode()

    return current, {
        "count": paginator.count,
        "page": current.number,
        "page_size": page_size,
        "pages": paginator.num_pages,
        "next": link(current.number + 1) if current.has_next() else None,
        "previous": link(current.number - 1) if current.has_previous() else None,
    }


def _audit_restricted(request, mitigation_figures):
    """As the pages do: record that a reviewer saw a mitigation's restricted figures."""
    if not access.can_see_restricted_figures(_user(request)):
        return
    for mitigation, figures in mitigation_figures:
        if any(access.figure_is_restricted(f) for f in figures):
            responses.audited(request, mitigation)


def _selection(request, user):
    fields = serialize.parse_list(
        request, "fields", serialize.MITIGATION_FIELDS, default=serialize.MITIGATION_FIELDS
    )
    expand = serialize.parse_list(request, "expand", serialize.EXPANSIONS, default=[])
    figure_fields = serialize.figure_fields(user)
    return fields, expand, figure_fields


PageNumber = Query(1, ge=1, le=1_000_000, description="1-based page number")
PageSize = Query(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Results per page (at most 100)")
Fields = Query(
    None,
    max_length=400,
    description="Comma-separated fields to include (default: all but expansions)",
)
Expand = Query(None, max_length=100, description="Comma-separated: figures, sources, related")


# --- Endpoints -------------------------------------------------------------------------------


@api.get("/", response=schemas.Index, summary="What the API offers", tags=["index"])
def index(request):
    _only_params(request, set())

    def build():
        base = _base_url(request) + reverse("api-v1:index")
        return {
            "version": "1",
            "documentation": base + "docs",
            "openapi": base + "openapi.json",
            "endpoints": {
                "mitigations": base + "mitigations",
                "mitigation": base + "mitigations/{id}",
                "figures": base + "mitigations/{id}/figures",
                "taxonomy": base + "taxonomy",
                "sources": base + "sources",
                "source": base + "sources/{id}",
                "changes": base + "changes",
            },
        }

    return responses.json_response(request, build)


@api.get(
    "/mitigations",
    response={200: schemas.MitigationPage, **ERRORS},
    summary="List, filter and search mitigations",
    tags=["mitigations"],
    url_name="mitigations",
)
def list_mitigations(
    request,
    q: str = Query(None, max_length=200, description="Full-text search (ordered by relevance)"),
    category: str = Query(None, description="Taxonomy code at any level, e.g. `2` or `2.2.1`"),
    lifecycle: str = Query(None, description="Lifecycle stage slug"),
    actor: str = Query(None, description="Actor slug"),
    rmf: str = Query(None, description="AI RMF function slug"),
    source: str = Query(None, description="Source id"),
    status: str = Query(None, description="`polishing` or `published` (editors: also `draft`)"),
    sort: str = Query(
        None, description=f"One of {', '.join(SORTS)} (default: name, or relevance with `q`)"
    ),
    page: int = PageNumber,
    page_size: int = PageSize,
    fields: str = Fields,
    expand: str = Expand,
):
    _only_params(request, LIST_PARAMS | PAGE_PARAMS | {"fields", "expand"})
    user = _user(request)

    def build():
        fields_, expand_, figure_fields = _selection(request, user)
        visible = Mitigation.objects.visible_to(user)
        if LIST_PARAMS.isdisjoint(request.GET):
            # What the filter set gives when nothing is chosen, without building its form
            # (a deep copy of every filter and field: a tenth of the CPU of such a request).
            results = visible.order_by("name")
        else:
            filterset = MitigationFilter(request.GET, queryset=visible, user=user)
            if not filterset.is_valid():
                name, errors = next(iter(filterset.errors.items()))
                raise ApiError(400, "invalid_parameter", f"{name}: {errors[0]}", parameter=name)
            results = filterset.qs
        # The list's order, then the id: pages never overlap or skip on ties.
        results = results.order_by(*(results.query.order_by or ("name",)), "code")
        results = serialize.prepare(results, fields_)
        current, envelope = _paginate(request, results, page, page_size)
        items = list(current.object_list)
        links = serialize.load_links(items, user, fields_, expand_)
        if "figures" in expand_:
            _audit_restricted(request, [(m, links["figures"].get(m.pk, ())) for m in items])
        base = _base_url(request)
        envelope["results"] = [
            serialize.mitigation(m, fields_, expand_, figure_fields, base, links) for m in items
        ]
        shown = [f for m in items for f in links.get("figures", {}).get(m.pk, ())]
        return serialize.stamp(user, shown, envelope)

    return responses.json_response(request, build)


def _visible_mitigation(user, code, queryset=None):
    queryset = queryset if queryset is not None else Mitigation.objects.visible_to(user)
    if len(code) > Mitigation._meta.get_field("code").max_length:
        raise ApiError(404, "not_found", "No mitigation with this id.")
    # The exact code uses the index; any other letter case is looked up (a scan) only then.
    found = queryset.filter(code=code).first() or queryset.filter(code__iexact=code).first()
    if found is None:  # a draft and a missing id answer alike
        raise ApiError(404, "not_found", "No mitigation with this id.")
    return found


@api.get(
    "/mitigations/{id}",
    response={200: schemas.MitigationDetail, **ERRORS},
    summary="One mitigation by its id",
    tags=["mitigations"],
    url_name="mitigation",
)
def get_mitigation(request, id: str, fields: str = Fields, expand: str = Expand):  # noqa: A002
    _only_params(request, {"fields", "expand"})
    user = _user(request)

    def build():
        fields_, expand_, figure_fields = _selection(request, user)
        queryset = serialize.prepare(Mitigation.objects.visible_to(user), fields_)
        mitigation = _visible_mitigation(user, id, queryset)
        links = serialize.load_links([mitigation], user, fields_, expand_)
        if "figures" in expand_:
            _audit_restricted(request, [(mitigation, links["figures"].get(mitigation.pk, ()))])
        data = serialize.mitigation(
            mitigation, fields_, expand_, figure_fields, _base_url(request), links
        )
        return serialize.stamp(user, links.get("figures", {}).get(mitigation.pk, ()), data)

    return responses.json_response(request, build)


@api.get(
    "/mitigations/{id}/figures",
    response={200: schemas.FigureList, **ERRORS},
    summary="The figures of a mitigation you may see",
    description="Reviewers and editors also get preliminary and embargoed figures, marked "
    "`restricted` (do not share or cite), and the fields `preliminary`, `embargo_until`, "
    "`restricted`; for others those fields do not exist.",
    tags=["mitigations"],
    url_name="figures",
)
def list_figures(request, id: str, fields: str = Fields):  # noqa: A002
    _only_params(request, {"fields"})
    user = _user(request)

    def build():
        allowed = serialize.figure_fields(user)
        chosen = serialize.parse_list(request, "fields", allowed, default=allowed)
        mitigation = _visible_mitigation(user, id)
        figures = list(Figure.objects.visible_to(user).filter(mitigation=mitigation))
        _audit_restricted(request, [(mitigation, figures)])
        data = {
            "mitigation_id": mitigation.code,
            "results": [serialize.figure(f, chosen) for f in figures],
        }
        return serialize.stamp(user, figures, data)

    return responses.json_response(request, build)


def _category_tree(user, base):
    categories = list(TaxonomyCategory.objects.all())
    direct = dict(
        Mitigation.objects.visible_to(user)
        .values("category")
        .annotate(n=Count("pk"))
        .values_list("category", "n")
    )
    nodes, by_id = [], {}
    for c in categories:
        by_id[c.pk] = {
            "code": c.code,
            "name": c.name,
            "description": c.description,
            "level": c.level,
            "mitigation_count": 0,
            "html_url": base + c.get_absolute_url(),
            "children": [],
        }
    parent_of = {c.pk: c.parent_id for c in categories}
    for c in categories:
        n, pk = direct.get(c.pk, 0), c.pk
        while pk in by_id:
            by_id[pk]["mitigation_count"] += n
            pk = parent_of[pk]
        if c.parent_id in by_id:
            by_id[c.parent_id]["children"].append(by_id[c.pk])
        else:
            nodes.append(by_id[c.pk])
    return nodes


@api.get(
    "/taxonomy",
    response={200: schemas.Taxonomy, **ERRORS},
    summary="The taxonomy tree, with the number of mitigations you may see in each subtree",
    tags=["taxonomy"],
    url_name="taxonomy",
)
def taxonomy(request):
    _only_params(request, set())
    user = _user(request)
    return responses.json_response(
        request, lambda: {"results": _category_tree(user, _base_url(request))}
    )


@api.get(
    "/sources",
    response={200: schemas.SourcePage, **ERRORS},
    summary="Source documents, newest first",
    tags=["sources"],
    url_name="sources",
)
def list_sources(request, page: int = PageNumber, page_size: int = PageSize):
    _only_params(request, PAGE_PARAMS)
    user = _user(request)

    def build():
        sources = SourceDocument.objects.with_counts(Mitigation.objects.visible_to(user)).order_by(
            "-year", "title", "key"
        )
        current, envelope = _paginate(request, sources, page, page_size)
        base = _base_url(request)
        envelope["results"] = [serialize.source(s, base) for s in current.object_list]
        return envelope

    return responses.json_response(request, build)


@api.get(
    "/sources/{id}",
    response={200: schemas.Source, **ERRORS},
    summary="One source document",
    tags=["sources"],
    url_name="source",
)
def get_source(request, id: str):  # noqa: A002
    _only_params(request, set())
    user = _user(request)

    def build():
        found = (
            SourceDocument.objects.with_counts(Mitigation.objects.visible_to(user))
            .filter(key=id)
            .first()
            if len(id) <= SourceDocument._meta.get_field("key").max_length
            else None
        )
        if found is None:
            raise ApiError(404, "not_found", "No source with this id.")
        return serialize.source(found, _base_url(request))

    return responses.json_response(request, build)


def _since(text):
    if text is None:
        return None
    try:
        moment = parse_datetime(text) if "T" in text else None
        day = parse_date(text) if "T" not in text else None
    except ValueError:  # well formed, but no such date or time
        moment = day = None
    if moment is None and day is None:
        raise ApiError(
            400,
            "invalid_parameter",
            "since: an ISO 8601 date or date-time, e.g. 2026-03-01 or 2026-03-01T09:30:00Z",
            parameter="since",
        )
    if moment is None:
        moment = datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment


@api.get(
    "/changes",
    response={200: schemas.ChangePage, **ERRORS},
    summary="Recently updated mitigations, newest first",
    description="The catalogue has no public changelog yet (what changed, and why): this "
    "lists when each mitigation you may see was last updated, like the Atom feed.",
    tags=["changes"],
    url_name="changes",
)
def list_changes(
    request,
    since: str = Query(None, max_length=40, description="Only updates at or after this"),
    page: int = PageNumber,
    page_size: int = PageSize,
):
    _only_params(request, PAGE_PARAMS | {"since"})
    user = _user(request)

    def build():
        moment = _since(since)
        changes = Mitigation.objects.visible_to(user).only(
            "code", "name", "slug", "status", "updated_at"
        )
        if moment is not None:
            changes = changes.filter(updated_at__gte=moment)
        current, envelope = _paginate(
            request, changes.order_by("-updated_at", "code"), page, page_size
        )
        base = _base_url(request)
        envelope["results"] = [
            {
                "id": m.code,
                "name": m.name,
                "status": m.status,
                "updated_at": serialize.timestamp(m.updated_at),
                "html_url": base + m.get_absolute_url(),
            }
            for m in current.object_list
        ]
        return envelope

    return responses.json_response(request, build)
