"""The import/export format (docs/data-format.md): table names, columns, and serialisation.

The importer (the mitigations.importer package) reads this format; exports write it.
"""

import csv
import json
from decimal import Decimal
from pathlib import Path

from django.db.models import Prefetch

from mitigations.models import (
    Actor,
    LifecycleStage,
    Mitigation,
    RmfFunction,
    SourceDocument,
    TaxonomyCategory,
)

# Table name -> columns, in the order files are written and loaded.
COLUMNS: dict[str, list[str]] = {
    "taxonomy": ["code", "name", "description"],
    "lifecycle_stages": ["name", "description", "position"],
    "actors": ["name", "description", "position"],
    "rmf_functions": ["name", "description", "position"],
    "sources": ["id", "title", "authors", "year", "url", "doi", "abstract"],
    "mitigations": [
        "id",
        "name",
        "definition",
        "additional_information",
        "reasoning",
        "classified_by",
        "taxonomy_code",
        "lifecycle_primary",
        "lifecycle_other",
        "actor_primary",
        "actor_other",
        "rmf_primary",
        "rmf_other",
        "source_ids",
        "related_ids",
        "status",
    ],
    "figures": [
        "mitigation_id",
        "key",
        "label",
        "value",
        "unit",
        "risk_area",
        "sample_size",
        "preliminary",
        "embargo_until",
        "note",
    ],
}
TABLES = list(COLUMNS)  # the table names, in load order
# Columns an import reads but an export does not write: a page's earlier codes are in its
# history, and an export always names pages by their current codes.
IMPORT_ONLY_COLUMNS: dict[str, list[str]] = {"mitigations": ["previous_codes"]}
IMPORT_COLUMNS: dict[str, list[str]] = {
    table: columns + IMPORT_ONLY_COLUMNS.get(table, []) for table, columns in COLUMNS.items()
}
REQUIRED: dict[str, set[str]] = {
    "taxonomy": {"code", "name"},
    "lifecycle_stages": {"name"},
    "actors": {"name"},
    "rmf_functions": {"name"},
    "sources": {"id", "title", "authors", "year"},
    "mitigations": {"id", "name", "definition", "taxonomy_code"},
    "figures": {"mitigation_id", "key", "label", "value"},
}
FACET_TABLES = {"lifecycle_stages": LifecycleStage, "actors": Actor, "rmf_functions": RmfFunction}
LIST_SEPARATOR = ";"


def format_decimal(value: Decimal) -> str:
    """Canonical text for a decimal: no exponent, no trailing zeros ('62.5', '40')."""
    text = format(value.normalize(), "f")
    return text


def join_list(values) -> str:
    return "; ".join(values)


def export_tables(mitigations, figures) -> dict[str, list[dict[str, str]]]:
    """All tables as rows of strings. `mitigations`/`figures` are already policy-filtered."""
    mitigations = (
        mitigations.select_related("category", "lifecycle_primary", "actor_primary", "rmf_primary")
        .prefetch_related(
            "lifecycle_other",
            "actor_other",
            "rmf_other",
            Prefetch("sources", queryset=SourceDocument.objects.order_by("key")),
            Prefetch("related", queryset=Mitigation.objects.only("code").order_by("code")),
        )
        .order_by("code")
    )
    mitigation_rows = []
    exported_codes = set(mitigations.values_list("code", flat=True))
    for m in mitigations:
        mitigation_rows.append(
            {
                "id": m.code,
                "name": m.name,
                "definition": m.definition,
                "additional_information": m.additional_information,
                "reasoning": m.reasoning,
                "classified_by": m.classified_by,
                "taxonomy_code": m.category.code,
                "lifecycle_primary": m.lifecycle_primary.name if m.lifecycle_primary else "",
                "lifecycle_other": join_list(sorted(f.name for f in m.lifecycle_other.all())),
                "actor_primary": m.actor_primary.name if m.actor_primary else "",
                "actor_other": join_list(sorted(f.name for f in m.actor_other.all())),
                "rmf_primary": m.rmf_primary.name if m.rmf_primary else "",
                "rmf_other": join_list(sorted(f.name for f in m.rmf_other.all())),
                "source_ids": join_list(s.key for s in m.sources.all()),
                "related_ids": join_list(
                    r.code for r in m.related.all() if r.code in exported_codes
                ),
                "status": m.status,
            }
        )
    figure_rows = [
        {
            "mitigation_id": f.mitigation.code,
            "key": f.key,
            "label": f.label,
            "value": format_decimal(f.value),
            "unit": f.unit,
            "risk_area": f.risk_area,
            "sample_size": "" if f.sample_size is None else str(f.sample_size),
            "preliminary": "true" if f.preliminary else "false",
            "embargo_until": f.embargo_until.isoformat() if f.embargo_until else "",
            "note": f.note,
        }
        for f in figures.select_related("mitigation").order_by(
            "mitigation__code", "position", "key"
        )
    ]
    tables = {
        "taxonomy": [
            {"code": c.code, "name": c.name, "description": c.description}
            for c in TaxonomyCategory.objects.order_by("sort_key")
        ],
    }
    for table, model in FACET_TABLES.items():
        tables[table] = [
            {"name": f.name, "description": f.description, "position": str(f.position)}
            for f in model.objects.order_by("position", "name")
        ]
    tables["sources"] = [
        {
            "id": s.key,
            "title": s.title,
            "authors": join_list(s.authors),
            "year": str(s.year),
            "url": s.url,
            "doi": s.doi,
            "abstract": s.abstract,
        }
        for s in SourceDocument.objects.order_by("key")
    ]
    tables["mitigations"] = mitigation_rows
    tables["figures"] = figure_rows
    return tables


# --- Writing the format (deterministic: the same tables give byte-identical files) --------


def _ordered_rows(table: str, rows):
    columns = COLUMNS[table]
    return [{col: "" if row.get(col) is None else str(row[col]) for col in columns} for row in rows]


def write_csv_folder(tables: dict[str, list[dict]], path) -> list:
    """Write each table to `path/<table>.csv` (the folder is created if needed).

    UTF-8 without BOM, a header row in COLUMNS order, `\\n` line endings, minimal quoting;
    empty cells are empty strings. Returns the paths written, in COLUMNS order.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for table in COLUMNS:
        if table not in tables:
            continue
        target = folder / f"{table}.csv"
        with target.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(COLUMNS[table])
            for row in _ordered_rows(table, tables[table]):
                writer.writerow(row.values())
        written.append(target)
    return written


def write_json(tables: dict[str, list[dict]], path):
    """Write all tables to one JSON file: tables and columns in COLUMNS order,
    `ensure_ascii=False`, `indent=1`, a newline at the end, UTF-8 without BOM."""
    data = {table: _ordered_rows(table, tables[table]) for table in COLUMNS if table in tables}
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8", newline="") as out:
        out.write(json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    return target
