"""Comparing the records with the database: which rows to create, which fields of which
rows to update (only real differences, so a re-import writes nothing), which many-to-many
links to add and remove. Fills the plan's planned writes and the report's counts."""

from collections import defaultdict
from collections.abc import Iterable

from mitigations.dataset import FACET_TABLES
from mitigations.importer.plan import (
    FIGURE_FIELDS,
    MANY_TO_MANY,
    PRIMARY_FACETS,
    SIMPLE_MITIGATION_FIELDS,
    Plan,
)
from mitigations.importer.problems import PageChange
from mitigations.importer.progress import ticker
from mitigations.importer.queries import filter_in
from mitigations.models import Figure, Mitigation, SourceDocument, TaxonomyCategory
from portal.lib import access


def diff(plan: Plan):
    _diff_taxonomy(plan)
    for table, model in FACET_TABLES.items():
        _diff_facets(plan, table, model)
    _diff_sources(plan)
    pages: dict[str, PageChange] = {}
    _diff_mitigations(plan, pages)
    _diff_figures(plan, pages)
    plan.report.pages = list(pages.values())


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, set, tuple)):
        return "; ".join(sorted(str(v) for v in value))
    return str(value)


def _page(plan: Plan, pages, code, kind="updated", name=""):
    page = pages.get(code)
    if page is None:
        existing = plan.mitigations.get(code)
        page = pages[code] = PageChange(
            code=code,
            name=name or (existing.name if existing else code),
            pk=existing.pk if existing else None,
            kind=kind,
        )
    return page


def _count(plan: Plan, table, created=0, updated=0, unchanged=0):
    counts = plan.report.counts[table]
    counts.created += created
    counts.updated += updated
    counts.unchanged += unchanged


def _apply(plan: Plan, table, obj, values: dict, fields: Iterable[str]) -> bool:
    """Set the given fields on an existing row; True (and queued) when one changed."""
    changed = [f for f in fields if f in values and getattr(obj, f) != values[f]]
    for name in changed:
        setattr(obj, name, values[name])
    if changed:
        plan.updates[table].append(obj)
        plan.update_fields[table].update(changed)
    return bool(changed)


def _diff_taxonomy(plan: Plan):
    for record in plan.good("taxonomy"):
        values = record.values
        existing = plan.taxonomy.get(values["code"])
        if existing is None:
            code = values["code"]
            plan.creates["taxonomy"].append(
                _new_category(code, values["name"], values.get("description", ""))
            )
            _count(plan, "taxonomy", created=1)
        elif _apply(plan, "taxonomy", existing, values, ["name", "description"]):
            _count(plan, "taxonomy", updated=1)
        else:
            _count(plan, "taxonomy", unchanged=1)


def _diff_facets(plan: Plan, table, model):
    for record in plan.good(table):
        values = dict(record.values)
        values["slug"] = model.slug_for(values["name"])
        existing = plan.facets[table].get(values["name"])
        if existing is None:
            plan.creates[table].append(model(**values))
            _count(plan, table, created=1)
        elif _apply(plan, table, existing, values, ["slug", "description", "position"]):
            _count(plan, table, updated=1)
        else:
            _count(plan, table, unchanged=1)


def _diff_sources(plan: Plan):
    rename = {"id": "key"}
    for record in plan.good("sources"):
        values = {rename.get(k, k): v for k, v in record.values.items()}
        existing = plan.sources.get(values["key"])
        if existing is None:
            plan.creates["sources"].append(SourceDocument(**values))
            _count(plan, "sources", created=1)
        elif _apply(
            plan,
            "sources",
            existing,
            values,
            ["title", "authors", "year", "url", "doi", "abstract"],
        ):
            _count(plan, "sources", updated=1)
        else:
            _count(plan, "sources", unchanged=1)


def _existing_links(plan: Plan):
    """{column: {mitigation code: {through row id: natural key of the target}}}."""
    pks = {m.pk: code for code, m in plan.mitigations.items()}
    names = {
        "lifecycle_stages": {f.pk: n for n, f in plan.facets["lifecycle_stages"].items()},
        "actors": {f.pk: n for n, f in plan.facets["actors"].items()},
        "rmf_functions": {f.pk: n for n, f in plan.facets["rmf_functions"].items()},
        "sources": {s.pk: k for k, s in plan.sources.items()},
    }
    links = {}
    for col, (field_name, table) in MANY_TO_MANY.items():
        model_field = Mitigation._meta.get_field(field_name)
        source, target = model_field.m2m_column_name(), model_field.m2m_reverse_name()
        rows = list(
            filter_in(
                model_field.remote_field.through.objects.values_list("pk", source, target),
                source,
                pks,
            )
        )
        if table == "mitigations":
            unknown = {to for _pk, _from, to in rows} - set(pks)
            names[table] = dict(pks)
            names[table].update(
                filter_in(Mitigation.objects.values_list("pk", "code"), "pk", unknown)
            )
        links[col] = defaultdict(dict)
        for pk, frm, to in rows:
            links[col][pks[frm]][pk] = names[table][to]
    return links


def _diff_mitigations(plan: Plan, pages):
    records = plan.good("mitigations")
    links = _existing_links(plan) if plan.mitigations else {}
    category_codes = {c.pk: code for code, c in plan.taxonomy.items()}
    facet_names = {
        table: {f.pk: n for n, f in facets.items()} for table, facets in plan.facets.items()
    }
    tick = ticker(plan.progress, "comparing mitigations", len(records))
    for done, record in enumerate(records, start=1):
        tick(done)
        values = record.values
        code = values["id"]
        existing = plan.mitigations.get(code)
        if existing is None:
            _page(plan, pages, code, "created", values.get("name", ""))
            plan.creates["mitigations"].append(record)
            for col in MANY_TO_MANY:
                plan.link_adds[col].extend((code, v) for v in values.get(col, []))
            _count(plan, "mitigations", created=1)
            continue
        changed = {
            name
            for name in SIMPLE_MITIGATION_FIELDS
            if name in values and getattr(existing, name) != values[name]
        }
        shown = [(n, _text(getattr(existing, n)), _text(values[n])) for n in sorted(changed)]
        if (
            "taxonomy_code" in values
            and category_codes.get(existing.category_id) != values["taxonomy_code"]
        ):
            changed.add("category")
            old_category = category_codes.get(existing.category_id)
            shown.append(("category", _text(old_category), _text(values["taxonomy_code"])))
        if existing.code != code:  # a renamed page (see renames.py)
            changed.add("code")
            shown.append(("id", existing.code, code))
        for col, table in PRIMARY_FACETS.items():
            current = facet_names[table].get(getattr(existing, f"{col}_id"))
            if col in values and current != values[col]:
                changed.add(col)
                shown.append((col, _text(current), _text(values[col])))
        links_changed = False
        for col in MANY_TO_MANY:
            if col not in values:
                continue
            current = links[col].get(code, {})
            wanted = set(values[col])
            removes = [pk for pk, key in current.items() if key not in wanted]
            adds = wanted - set(current.values())
            plan.link_removes[col].extend(removes)
            plan.link_adds[col].extend((code, v) for v in sorted(adds))
            links_changed = links_changed or bool(removes or adds)
            if removes or adds:
                shown.append((col, _text(current.values()), _text(wanted)))
        if changed or links_changed:
            _page(plan, pages, code).fields.extend(shown)
            for name in changed & set(SIMPLE_MITIGATION_FIELDS):
                setattr(existing, name, values[name])
            existing.code = code
            plan.mitigation_changes[code] = (changed, values)  # ids resolved in `write`
            plan.updates["mitigations"].append(existing)
            plan.update_fields["mitigations"].update(changed)
            _count(plan, "mitigations", updated=1)
        else:
            _count(plan, "mitigations", unchanged=1)


def _diff_figures(plan: Plan, pages):
    records = plan.good("figures")
    codes = {r.values["mitigation_id"] for r in records}
    pks = {code: pk for code, pk in plan.mitigation_pks.items() if code in codes}
    by_pk = {pk: code for code, pk in pks.items()}
    # Plain tuples, not model instances: a re-import compares tens of thousands of rows
    # and only the changed ones need an instance (for bulk_update and its history).
    names = [f.attname for f in Figure._meta.concrete_fields]
    existing = {
        (by_pk[row["mitigation_id"]], row["key"]): row
        for row in (
            dict(zip(names, values, strict=True))
            for values in filter_in(Figure.objects.values_list(*names), "mitigation_id", by_pk)
        )
    }
    compared = [*FIGURE_FIELDS, "position"]
    positions: dict[str, int] = defaultdict(int)
    for record in records:
        values = dict(record.values)
        code = values.pop("mitigation_id")
        positions[code] += 1
        values["position"] = positions[code]
        current = existing.get((code, values["key"]))
        if current is None:
            plan.creates["figures"].append((code, values))
            _count(plan, "figures", created=1)
            _figure_changed(plan, pks.get(code), None, Figure(**values))
            if code in plan.mitigations:
                _page(plan, pages, code).fields.append((f"figure {values['key']}", "", "new"))
        elif any(f in values and current[f] != values[f] for f in compared):
            before, after = Figure(**current), Figure(**current)
            _apply(plan, "figures", after, values, compared)
            _count(plan, "figures", updated=1)
            _figure_changed(plan, pks.get(code), before, after)
            _page(plan, pages, code).fields.extend(
                (f"figure {values['key']}: {f}", _text(current[f]), _text(values[f]))
                for f in compared
                if f in values and current[f] != values[f]
            )
        else:
            _count(plan, "figures", unchanged=1)


def _figure_changed(plan: Plan, page_pk, before, after):
    """Remember a figure change of an existing page (its dates move when it is written)."""
    if page_pk is None:
        return  # a new page: its dates are the import's
    plan.figure_pages.add(page_pk)
    if access.figure_change_is_visible(before, after):
        plan.public_figure_pages.add(page_pk)


def _new_category(code: str, name: str, description: str) -> TaxonomyCategory:
    category = TaxonomyCategory(code=code, name=name, description=description)
    category.set_derived_fields()  # the parent is set when it is written
    return category
