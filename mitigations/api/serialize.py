"""Objects as the API shows them (field names: mitigations/api/schemas.py), per role.

Every queryset handed in is already filtered by the access policy; this module decides
only which *fields* a role sees (restricted figure fields for reviewers and editors).
"""

import datetime

from django.db.models import CharField, F, IntegerField, Value

from mitigations.api import schemas
from mitigations.api.errors import ApiError
from mitigations.models import Figure, Mitigation, SourceDocument
from portal.lib import access, stamps

EXPANSIONS = ("figures", "sources", "related")


def _names(schema) -> list[str]:
    return list(schema.model_fields)


def _restricted(schema) -> set[str]:
    return {
        name
        for name, field in schema.model_fields.items()
        if field.json_schema_extra is schemas._restricted_extra
    }


MITIGATION_FIELDS = [n for n in _names(schemas.Mitigation) if n not in EXPANSIONS]
FIGURE_FIELDS = _names(schemas.Figure)
FIGURE_RESTRICTED = _restricted(schemas.Figure)


def timestamp(value: datetime.datetime) -> str:
    """ISO 8601 in UTC to the second, e.g. 2026-03-01T09:30:00Z."""
    return value.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_list(request, name, allowed, *, default=None) -> list[str] | None:
    """A comma-separated choice from `allowed`; anything else is a 400 naming it.

    `allowed` is what this role may ask for: a field the role may not see is answered like
    one that does not exist."""
    raw = request.GET.get(name)
    if raw is None:
        return default
    chosen = [part.strip() for part in raw.split(",") if part.strip()]
    for part in chosen:
        if part not in allowed:
            raise ApiError(
                400,
                "invalid_parameter",
                f"Unknown {name[:-1] if name.endswith('s') else name} "
                f"{part[:40]!r}; known: {', '.join(allowed)}",
                parameter=name,
            )
    if not chosen:
        raise ApiError(400, "invalid_parameter", f"{name} is empty", parameter=name)
    return list(dict.fromkeys(chosen))


def figure_fields(user) -> list[str]:
    if access.can_see_restricted_figures(user):
        return FIGURE_FIELDS
    return [f for f in FIGURE_FIELDS if f not in FIGURE_RESTRICTED]


def figure(f: Figure, fields, now=None) -> dict:
    values = {
        "key": f.key,
        "label": f.label,
        "value": float(f.value),
        "unit": f.unit,
        "risk_area": f.risk_area,
        "sample_size": f.sample_size,
        "note": f.note,
    }
    if "preliminary" in fields:
        values["preliminary"] = f.preliminary
    if "embargo_until" in fields:
        values["embargo_until"] = f.embargo_until.isoformat() if f.embargo_until else None
    if "restricted" in fields:
        values["restricted"] = access.figure_is_restricted(f, now)
    return {name: values[name] for name in fields}


def stamp(user, figures, data: dict) -> dict:
    """`data` with the viewer's stamp (portal/lib/stamps.py, as in the JSON download) when the
    figures it shows hold restricted ones; only reviewers and editors ever see those."""
    if access.can_see_restricted_figures(user) and any(
        access.figure_is_restricted(f) for f in figures
    ):
        data["stamp"] = stamps.for_document(user, access.today())
    return data


def source(s: SourceDocument, base_url, count=None) -> dict:
    return {
        "id": s.key,
        "title": s.title,
        "authors": list(s.authors),
        "year": s.year,
        "url": s.url,
        "doi": s.doi,
        "abstract": s.abstract,
        "mitigation_count": count if count is not None else s.mitigation_count,
        "html_url": base_url + s.get_absolute_url(),
    }


def prepare(queryset, fields):
    """The mitigations queryset with the rows the chosen fields read (not the search vector)."""
    queryset = queryset.select_related("category").defer("search_vector")
    for field, primary in FACETS.items():
        if field in fields:
            queryset = queryset.select_related(primary)
    return queryset


# field -> the mitigation's primary FK; its "other" M2M is named like it, ending in _other.
FACETS = {
    "lifecycle_stage": "lifecycle_primary",
    "actor": "actor_primary",
    "rmf_function": "rmf_primary",
}


def _grouped(rows):
    grouped = {}
    for key, *values in rows:
        grouped.setdefault(key, []).append(values[0] if len(values) == 1 else values)
    return grouped


_LINK_COLUMNS = ("_m", "_k", "_n", "_o", "_a", "_b", "_c")


def _link_part(through, kind, mitigation, order, a, b=None, c=None, position=None):
    """Rows of one link table as (mitigation pk, kind, number, text to order by, a, b, c)."""
    empty = Value("", output_field=CharField())
    return through.annotate(
        _m=F(mitigation),
        _k=Value(kind, output_field=CharField()),
        _n=F(position) if position else Value(0, output_field=IntegerField()),
        _o=F(order),
        _a=F(a),
        _b=F(b) if b else empty,
        _c=F(c) if c else empty,
    ).values_list(*_LINK_COLUMNS)


def load_links(mitigations, user, fields, expand) -> dict:
    """What the mitigations link to, as {name: {mitigation pk: [...]}}.

    The facets' other values, the source ids and the related mitigations come in one query:
    rows straight from the link tables (values_list), in a UNION ALL, each kind in its
    order. (Django's prefetching built several hundred model instances for a page of 20
    mitigations and cost more CPU than the rest of the request together, and a query per
    link table cost a round trip and an ORM compilation each: bench "api list, page 50",
    reviewer token.) Figures and expanded sources are one more query each."""
    ids = [m.pk for m in mitigations]
    parts = []
    for field, primary in FACETS.items():
        if field in fields:
            other = Mitigation._meta.get_field(primary.replace("_primary", "_other"))
            model = other.remote_field.model._meta.model_name
            through = other.remote_field.through.objects.filter(mitigation_id__in=ids)
            parts.append(
                _link_part(
                    through, field, "mitigation_id", f"{model}__name", f"{model}__slug",
                    f"{model}__name", position=f"{model}__position",
                )
            )  # fmt: skip
    wants_sources = "source_ids" in fields or "sources" in expand
    if wants_sources:
        through = Mitigation.sources.through.objects.filter(mitigation_id__in=ids)
        key = "sourcedocument__key"
        parts.append(_link_part(through, "source_ids", "mitigation_id", key, key))
    wants_related = "related_ids" in fields or "related" in expand
    if wants_related:
        through = Mitigation.related.through.objects.filter(
            from_mitigation_id__in=ids, to_mitigation__in=Mitigation.objects.visible_to(user)
        )
        code = "to_mitigation__code"
        parts.append(
            _link_part(
                through, "related", "from_mitigation_id", code, code, "to_mitigation__name",
                "to_mitigation__slug",
            )
        )  # fmt: skip
    grouped = {field: {} for field in FACETS if field in fields}
    if wants_sources:
        grouped["source_ids"] = {}
    if wants_related:
        grouped["related"] = {}
    if parts and ids:
        rows = parts[0].union(*parts[1:], all=True).order_by("_k", "_n", "_o")
        for pk, kind, _n, _o, a, b, c in rows:
            if kind == "source_ids":
                value = a
            elif kind == "related":
                value = (a, b, c)
            else:
                value = (a, b)
            grouped[kind].setdefault(pk, []).append(value)
    links = grouped
    if "sources" in expand:
        cited = {key for keys in links["source_ids"].values() for key in keys}
        links["sources"] = {
            s.key: s
            for s in SourceDocument.objects.filter(key__in=cited).with_counts(
                Mitigation.objects.visible_to(user)
            )
        }
    if "figures" in expand:
        figures = Figure.objects.visible_to(user).filter(mitigation_id__in=ids)
        links["figures"] = _grouped((f.mitigation_id, f) for f in figures)
    return links


def mitigation(m: Mitigation, fields, expand, figure_fields_, base_url, links, now=None):
    out = {}
    pk = m.pk
    for name in fields:
        if name == "id":
            out[name] = m.code
        elif name == "category":
            out[name] = {"code": m.category.code, "name": m.category.name}
        elif name in FACETS:
            primary = getattr(m, FACETS[name])
            out[name] = {
                "primary": {"slug": primary.slug, "name": primary.name} if primary else None,
                "other": [{"slug": s, "name": n} for s, n in links[name].get(pk, ())],
            }
        elif name == "source_ids":
            out[name] = links["source_ids"].get(pk, [])
        elif name == "related_ids":
            out[name] = [code for code, _name, _slug in links["related"].get(pk, ())]
        elif name in ("created_at", "updated_at"):
            out[name] = timestamp(getattr(m, name))
        elif name == "html_url":
            out[name] = base_url + m.get_absolute_url()
        else:
            out[name] = getattr(m, name)
    if "figures" in expand:
        out["figures"] = [figure(f, figure_fields_, now) for f in links["figures"].get(pk, ())]
    if "sources" in expand:
        sources = links["sources"]
        out["sources"] = [source(sources[k], base_url) for k in links["source_ids"].get(pk, ())]
    if "related" in expand:
        out["related"] = [
            {"id": code, "name": name, "html_url": base_url + _detail_url(slug)}
            for code, name, slug in links["related"].get(pk, ())
        ]
    return out


def _detail_url(slug) -> str:
    return Mitigation(slug=slug).get_absolute_url()
