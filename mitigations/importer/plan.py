"""The plan of one import: the dataset's records, the rows the database already has, and
the writes worked out by comparing the two.

The stages fill it in turn, all inside the import's transaction:
`checks.check` (records against each other and the database: problems),
`diffing.diff` (the planned writes and the report's counts), `writing.write` (the writes).
"""

from collections import defaultdict

from mitigations.dataset import COLUMNS, FACET_TABLES
from mitigations.importer.cells import Record
from mitigations.importer.problems import ImportReport, Problems, Rename, Table
from mitigations.importer.progress import Progress
from mitigations.models import Mitigation, SourceDocument, TaxonomyCategory

# Mitigation columns -> model field, for the simple (non-relational) fields.
SIMPLE_MITIGATION_FIELDS = [
    "name",
    "definition",
    "additional_information",
    "reasoning",
    "classified_by",
    "status",
]
PRIMARY_FACETS = {
    "lifecycle_primary": "lifecycle_stages",
    "actor_primary": "actors",
    "rmf_primary": "rmf_functions",
}
# Mitigation list columns -> (many-to-many field, table its values name)
MANY_TO_MANY = {
    "lifecycle_other": ("lifecycle_other", "lifecycle_stages"),
    "actor_other": ("actor_other", "actors"),
    "rmf_other": ("rmf_other", "rmf_functions"),
    "source_ids": ("sources", "sources"),
    "related_ids": ("related", "mitigations"),
}
# Figure columns compared on re-import (all but the key).
FIGURE_FIELDS = [c for c in COLUMNS["figures"] if c not in ("mitigation_id", "key")]


class Plan:
    def __init__(
        self,
        tables: dict[str, Table],
        records: dict[str, list[Record]],
        problems: Problems,
        report: ImportReport,
        progress: Progress | None,
    ):
        self.tables = tables
        self.records = records
        self.problems = problems
        self.report = report
        self.progress = progress
        # Existing rows, by natural key.
        self.taxonomy = {c.code: c for c in TaxonomyCategory.objects.all()}
        self.facets = {
            table: {f.name: f for f in model.objects.all()} for table, model in FACET_TABLES.items()
        }
        self.sources = {s.key: s for s in SourceDocument.objects.all()}
        self.mitigations: dict[str, Mitigation] = {}  # filled by the checks
        self.mitigation_pks: dict[str, int] = {}  # existing mitigations referenced by the file
        self.renames: list[Rename] = []  # existing pages that get a new code (the row's id)
        self.renamed_to: dict[str, str] = {}  # old code -> new code
        # Planned writes.
        self.creates: dict[str, list] = defaultdict(list)
        self.updates: dict[str, list] = defaultdict(list)
        self.update_fields: dict[str, set[str]] = defaultdict(set)
        self.link_adds: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.link_removes: dict[str, list[int]] = defaultdict(list)
        self.mitigation_changes: dict[str, tuple[set[str], dict]] = {}
        # Existing pages (pks) whose figures change: all of them, and those readers can see
        # (their public date and version move; portal/lib/access.py decides).
        self.figure_pages: set[int] = set()
        self.public_figure_pages: set[int] = set()

    def good(self, table: str) -> list[Record]:
        """Records of `table` (an empty list when the dataset lacks it)."""
        return self.records.get(table, [])
