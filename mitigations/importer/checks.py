"""Checks of the records against each other and the database: repeated keys, parents and
names that do not exist, facet names that would share a URL slug. Every problem is added
to the plan's collector; nothing is written. Also loads the existing mitigations the file
names (as full rows or as references) into the plan."""

from collections.abc import Iterable

from mitigations.dataset import FACET_TABLES, LIST_SEPARATOR
from mitigations.importer import renames
from mitigations.importer.plan import MANY_TO_MANY, PRIMARY_FACETS, Plan
from mitigations.importer.problems import quote
from mitigations.importer.queries import filter_in
from mitigations.models import Mitigation, TaxonomyCategory


def check(plan: Plan):
    known_codes = _check_taxonomy(plan)
    known_facets = {
        table: _check_facets(plan, table, model) for table, model in FACET_TABLES.items()
    }
    known_sources = set(plan.sources) | set(_unique(plan, "sources", ["id"]))
    mitigations = _unique(plan, "mitigations", ["id"])
    figures = _unique(plan, "figures", ["mitigation_id", "key"])
    _load_mitigations(plan, mitigations)
    known_mitigations = set(plan.mitigation_pks) | set(mitigations)
    for code, record in mitigations.items():
        _check_mitigation(
            plan, code, record, known_codes, known_facets, known_sources, known_mitigations
        )
    for (code, _figure_key), record in figures.items():
        if code not in known_mitigations:
            plan.problems.at(
                plan.tables["figures"],
                record.row,
                "mitigation_id",
                _unknown_mitigation(plan, code),
            )


def _unique(plan: Plan, table, key_columns):
    """Report repeated keys; return {key: record} of first occurrences."""
    seen: dict = {}
    for record in plan.good(table):
        if not all(col in record.values for col in key_columns):
            continue
        key = tuple(record.values[col] for col in key_columns)
        key = key[0] if len(key) == 1 else key
        if key in seen:
            what = " / ".join(quote(str(k)) for k in (key if isinstance(key, tuple) else [key]))
            plan.problems.at(
                plan.tables[table],
                record.row,
                key_columns[-1],
                f"{what} appears more than once (first on row {seen[key].row.line})",
            )
            record.ok = False
        else:
            seen[key] = record
    return seen


def _check_taxonomy(plan: Plan) -> set[str]:
    """Check the taxonomy's parents; return the codes known after the import."""
    taxonomy = _unique(plan, "taxonomy", ["code"])
    known_codes = set(plan.taxonomy) | set(taxonomy)
    for code, record in taxonomy.items():
        parent = TaxonomyCategory.parent_code(code)
        if parent is not None and parent not in known_codes:
            plan.problems.at(
                plan.tables["taxonomy"],
                record.row,
                "code",
                f"the parent category {quote(parent)} does not exist (add it to taxonomy.csv)",
            )
    return known_codes


def _check_facets(plan: Plan, table: str, model) -> set[str]:
    """Check a facet table's names; return the names known after the import."""
    in_file = _unique(plan, table, ["name"])
    owners = {f.slug: f.name for f in plan.facets[table].values()}
    for name, record in in_file.items():
        slug = model.slug_for(name)
        if LIST_SEPARATOR in name:
            message = (
                f"a name cannot contain '{LIST_SEPARATOR}' (it separates the names in "
                "list cells of mitigations.csv)"
            )
        elif not slug:
            message = "the name needs at least one letter or digit (it makes the URL slug)"
        elif owners.setdefault(slug, name) != name:
            message = (
                f"{quote(name)} gives the same URL slug {quote(slug)} as "
                f"{quote(owners[slug])}; names must differ in more than case and punctuation"
            )
        else:
            continue
        plan.problems.at(plan.tables[table], record.row, "name", message)
    return set(plan.facets[table]) | set(in_file)


def _load_mitigations(plan: Plan, mitigations: dict):
    """Existing mitigations: those in the file (full rows, renamed ones included) and those
    it refers to. A code this import renames away refers to nothing any more."""
    referenced = set()
    for record in mitigations.values():
        referenced.update(record.values.get("related_ids", []))
    for record in plan.good("figures"):
        if "mitigation_id" in record.values:
            referenced.add(record.values["mitigation_id"])
    renames.resolve(plan, mitigations)
    plan.mitigation_pks = {code: m.pk for code, m in plan.mitigations.items()}
    plan.mitigation_pks.update(
        filter_in(
            Mitigation.objects.values_list("code", "pk"),
            "code",
            referenced - set(mitigations) - set(plan.mitigations) - set(plan.renamed_to),
        )
    )


def _check_mitigation(
    plan: Plan, code, record, known_codes, known_facets, known_sources, known_mitigations
):
    t, values = plan.tables, record.values

    def check_name(table, col, value, known_names):
        if value is not None and value not in known_names:
            plan.problems.at(
                t["mitigations"],
                record.row,
                col,
                f"unknown {table.replace('_', ' ')[:-1]} {quote(value)}"
                f"{_did_you_mean(value, known_names)}; it must be in {table}.csv "
                "or already in the database",
            )
            record.ok = False

    if "taxonomy_code" in values and values["taxonomy_code"] not in known_codes:
        plan.problems.at(
            t["mitigations"],
            record.row,
            "taxonomy_code",
            f"unknown taxonomy code {quote(values['taxonomy_code'])}; it must be in "
            "taxonomy.csv or already in the database",
        )
    for col, table in PRIMARY_FACETS.items():
        if col in values:
            check_name(table, col, values[col], known_facets[table])
    for col, (_field, table) in MANY_TO_MANY.items():
        for value in values.get(col, []):
            if table in FACET_TABLES:
                check_name(table, col, value, known_facets[table])
            elif table == "sources" and value not in known_sources:
                plan.problems.at(
                    t["mitigations"],
                    record.row,
                    col,
                    f"unknown source id {quote(value)}; it must be in sources.csv "
                    "or already in the database",
                )
            elif table == "mitigations" and value == code:
                plan.problems.at(
                    t["mitigations"], record.row, col, "a mitigation cannot be related to itself"
                )
            elif table == "mitigations" and value not in known_mitigations:
                plan.problems.at(
                    t["mitigations"],
                    record.row,
                    col,
                    _unknown_mitigation(plan, value),
                )


def _unknown_mitigation(plan: Plan, code: str) -> str:
    renamed = plan.renamed_to.get(code)
    hint = f" (this import renames it to {quote(renamed)})" if renamed else ""
    return (
        f"unknown mitigation id {quote(code)}{hint}; it must be in mitigations.csv "
        "or already in the database"
    )


def _did_you_mean(value: str, names: Iterable[str]) -> str:
    lowered = value.casefold()
    for name in names:
        if name.casefold() == lowered:
            return f" (did you mean {quote(name)}?)"
    return ""
