"""Import a dataset in the import format (docs/data-format.md): a CSV folder or a JSON file.

    report = import_dataset("data/demo")                     # validates, then writes
    report = import_dataset("export.json", dry_run=True)     # validates and counts only
    print("\\n".join(report.lines()))                        # created/updated/unchanged

Views, the admin upload page and the `import_mitigations` command all call `import_dataset`.

What an import does
-------------------
* **Upsert, not sync.** Rows are matched on their stable key (taxonomy by `code`, facets by
  `name`, sources by `id`, mitigations by `id` = `Mitigation.code`, figures by
  (`mitigation_id`, `key`)) and created or updated. Rows that are in the database but not in
  the file are left alone: an import never deletes anything (delete in the admin).
  In the same spirit, a column that is absent from a CSV file (or a key absent from a JSON
  object) leaves that field untouched on existing rows and gives new rows the model default,
  while an *empty* cell means "no value" and clears the field. A `;`-list cell replaces the
  whole set (facets, sources, related mitigations).
* **Idempotent.** Field values, many-to-many sets and related sets are compared with the
  database and only rows that really differ are written, so a second run of the same data
  reports 0 created / 0 updated and simple_history records a version only on a real change
  (a mitigation whose only change is a facet, source or related link gets a version too).
* **All or nothing.** Every file is read and every row checked before anything is written,
  and all problems of a run are collected, not just the first. The checks against the
  database and the writes run in one `transaction.atomic()`; with any problem nothing is
  written and `DatasetError` carries the full list.
* **Problems** read `file:row:column: message`. `row` is the CSV line on which the record
  starts (the header is line 1; when a multi-line cell makes it differ from the spreadsheet
  row, the message adds "(spreadsheet row N)") or the 1-based index in a JSON table; row 0
  means the file as a whole and column `-` the row as a whole. In a JSON dataset the file is
  written `name.json[table]`.
* **Size and memory.** Files larger than `max_bytes` (default 100 MB) are refused before they
  are read. CSV files are streamed: decoded and parsed line by line, so the text of a file is
  held in memory once, as parsed rows, never also as one raw string; a valid 50 MB CSV folder
  imports. The standard library has no streaming JSON parser, so a JSON file is read whole
  (bytes, text, then objects); JSON files are therefore limited to `max_json_bytes` (default
  32 MB) and a larger one is refused with a message pointing to the CSV format. A cell may
  hold at most 100,000 characters.
* **Encoding.** UTF-8, with or without a BOM. Invalid bytes are reported with their line and
  byte offset (the rest of the file is still checked); UTF-16 files are refused with a hint.
  NUL characters and lone surrogates are refused (PostgreSQL cannot store them).
* **Slugs.** A new mitigation gets `Mitigation.make_slug(name, id)` (suffixed `-2`, `-3` … if
  that slug is taken); an existing mitigation keeps its slug even when its name or its id
  changes, so its URL stays stable.
* **Renames.** A mitigation row's `previous_codes` may move an existing page to the row's id
  (the same database row: feedback, figures, links and slug stay); all renames of an import
  are resolved together, so chains and swaps work (see renames.py).
* **Figure order.** A figure's `position` is its place among its mitigation's figures in the
  file (1, 2, …), so pages show figures in file order.
* **Bulk writes.** Rows are written with `bulk_create`/`bulk_update` in batches, history with
  simple_history's bulk helpers, so no `save()` and no signals run: the importer computes the
  derived fields with the models' own rules (taxonomy level/sort key/parent, facet and page
  slugs) and bumps the page cache version once the transaction commits. PostgreSQL keeps
  `search_vector` current by trigger.
* **Progress.** `progress` may be a callable `(step: str, done: int, total: int)` or `True`
  for a tqdm bar on stderr; it is only called for steps with more than 1,000 rows.

The package, one module a stage: `reading` (files to raw cells), `cells` (cells to values),
`checks` (records against each other and the database; `renames` resolves previous codes),
`diffing` (what to write), `writing` and `rows` (the bulk writes), `pipeline` (the stages in
one transaction); `problems` holds the problem collector and the results, `uploads` the
admin's uploads.
"""

from mitigations.importer.cells import MAX_CELL_CHARS
from mitigations.importer.pipeline import import_dataset
from mitigations.importer.problems import (
    DatasetError,
    ImportReport,
    PageChange,
    Problem,
    Rename,
    TableCounts,
)
from mitigations.importer.progress import Progress, TqdmProgress
from mitigations.importer.reading import DEFAULT_MAX_BYTES, DEFAULT_MAX_JSON_BYTES
from mitigations.importer.uploads import dataset_from_upload

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_JSON_BYTES",
    "MAX_CELL_CHARS",
    "DatasetError",
    "ImportReport",
    "PageChange",
    "Problem",
    "Progress",
    "Rename",
    "TableCounts",
    "TqdmProgress",
    "dataset_from_upload",
    "import_dataset",
]
