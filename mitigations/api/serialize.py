"""Objects as the API shows them (field names: mitigations/api/schemas.py), per role.

Every queryset handed in is already filtered by the access policy; this module decides
only which *fields* a role sees (restricted figure fields for reviewers and editors).
"""

import datetime

from django.db.models import Prefetch

from mitigations.api import schemas
from mitigations.api.errors import ApiError
from mitigations.models import Figure, Mitigation, SourceDocument
from portal.lib import access

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


def _facet(primary, others) -> dict:
    return {
        "primary": {"slug": primary.slug, "name": primary.name} if primary else None,
        "other": [{"slug": o.slug, "name": o.name} for o in others],
    }


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


def related_ref(m: Mitigation, base_url) -> dict:
    return {"id": m.code, "name": m.name, "html_url": base_url + m.get_absolute_url()}


def prepare(queryset, user, fields, expand):
    """The mitigations queryset with what the chosen fields and expansions read."""
    queryset = queryset.select_related("category")
    if "lifecycle_stage" in fields:
        queryset = queryset.select_related("lifecycle_primary").prefetch_related("lifecycle_other")
    if "actor" in fields:
        queryset = queryset.select_related("actor_primary").prefetch_related("actor_other")
    if "rmf_function" in fields:
        queryset = queryset.select_related("rmf_primary").prefetch_related("rmf_other")
    if "source_ids" in fields or "sources" in expand:
        sources = SourceDocument.objects.order_by("key")
        if "sources" in expand:
            sources = sources.with_counts(Mitigation.objects.visible_to(user))
        queryset = queryset.prefetch_related(Prefetch("sources", queryset=sources))
    if "related_ids" in fields or "related" in expand:
        related = Mitigation.objects.visible_to(user).only("code", "name", "slug")
        queryset = queryset.prefetch_related(
            Prefetch("related", queryset=related.order_by("code"), to_attr="visible_related")
        )
    if "figures" in expand:
        queryset = queryset.prefetch_related(
            Prefetch("figures", queryset=Figure.objects.visible_to(user), to_attr="visible_figures")
        )
    return queryset


def mitigation(m: Mitigation, fields, expand, figure_fields_, base_url, now=None) -> dict:
    out = {}
    for name in fields:
        if name == "id":
            out[name] = m.code
        elif name == "category":
            out[name] = {"code": m.category.code, "name": m.category.name}
        elif name == "lifecycle_stage":
            out[name] = _facet(m.lifecycle_primary, m.lifecycle_other.all())
        elif name == "actor":
            out[name] = _facet(m.actor_primary, m.actor_other.all())
        elif name == "rmf_function":
            out[name] = _facet(m.rmf_primary, m.rmf_other.all())
        elif name == "source_ids":
            out[name] = [s.key for s in m.sources.all()]
        elif name == "related_ids":
            out[name] = [r.code for r in m.visible_related]
        elif name in ("created_at", "updated_at"):
            out[name] = timestamp(getattr(m, name))
        elif name == "html_url":
            out[name] = base_url + m.get_absolute_url()
        else:
            out[name] = getattr(m, name)
    if "figures" in expand:
        out["figures"] = [figure(f, figure_fields_, now) for f in m.visible_figures]
    if "sources" in expand:
        out["sources"] = [source(s, base_url) for s in m.sources.all()]
    if "related" in expand:
        out["related"] = [related_ref(r, base_url) for r in m.visible_related]
    return out
