"""Import a dataset in the format of DATA_FORMAT.md: a folder of CSV files or one JSON file.

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
  that slug is taken); an existing mitigation keeps its slug even when its name changes, so
  its URL stays stable.
* **Figure order.** A figure's `position` is its place among its mitigation's figures in the
  file (1, 2, …), so pages show figures in file order.
* **Bulk writes.** Rows are written with `bulk_create`/`bulk_update` in batches, history with
  simple_history's bulk helpers, so no `save()` and no signals run: the importer computes the
  derived fields itself (taxonomy level/sort key/parent, facet slugs) and bumps the page cache
  version once the transaction commits. PostgreSQL keeps `search_vector` current by trigger.
* **Progress.** `progress` may be a callable `(step: str, done: int, total: int)` or `True`
  for a tqdm bar on stderr; it is only called for steps with more than 1,000 rows.
"""

import codecs
import csv
import datetime
import io
import json
import math
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, DecimalException
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import URLValidator
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.utils import timezone
from django.utils.text import slugify
from simple_history.utils import (
    bulk_create_with_history,
    bulk_update_with_history,
    get_history_manager_for_model,
)

from mitigations.dataset import COLUMNS, FACET_TABLES, LIST_SEPARATOR, REQUIRED
from mitigations.models import (
    Figure,
    Mitigation,
    SourceDocument,
    TaxonomyCategory,
    code_sort_key,
)

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_JSON_BYTES = 32 * 1024 * 1024
MAX_CELL_CHARS = 100_000
BATCH_SIZE = 500  # rows per INSERT/UPDATE statement
CHUNK_SIZE = 1000  # values per `__in` lookup
WRITE_STEP = 2000  # rows per progress step while writing
PROGRESS_THRESHOLD = 1000

FILE_ROW = 0  # row number of a problem with a file as a whole
WHOLE_ROW = "-"  # column of a problem with a row (or file) as a whole

TABLES = list(COLUMNS)
TAXONOMY_CODE = re.compile(r"[0-9]+(\.[0-9]+){0,2}")
KEY = re.compile(r"[A-Za-z0-9_-]+")
INTEGER = re.compile(r"[0-9]+")
DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,6})?")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
SURROGATE = re.compile("[\ud800-\udfff]")

Progress = Callable[[str, int, int], None]
PLAIN_FIELDS = (models.CharField, models.TextField, models.IntegerField, models.BooleanField)


# --- Results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One problem in a dataset, printed as `file:row:column: message`."""

    file: str
    row: int
    column: str
    message: str

    def __str__(self):
        return f"{self.file}:{self.row}:{self.column}: {self.message}"


class DatasetError(Exception):
    """The dataset has problems and nothing was written. `problems` lists all of them."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        count = len(self.problems)
        shown = "\n".join(str(p) for p in self.problems[:20])
        more = f"\n… and {count - 20} more" if count > 20 else ""
        plural = "" if count == 1 else "s"
        super().__init__(
            f"{count} problem{plural} in the dataset; nothing was written.\n{shown}{more}"
        )

    @property
    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


@dataclass
class TableCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return self.created + self.updated


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    tables: list[str]  # the tables the dataset contained, in load order
    counts: dict[str, TableCounts] = field(
        default_factory=lambda: {table: TableCounts() for table in TABLES}
    )
    seconds: float = 0.0

    @property
    def changed(self) -> int:
        return sum(c.changed for c in self.counts.values())

    def lines(self) -> list[str]:
        lines = []
        for table in self.tables:
            c = self.counts[table]
            lines.append(
                f"{table:<17} {c.created:>7} created {c.updated:>7} updated "
                f"{c.unchanged:>7} unchanged"
            )
        return lines

    def __str__(self):
        head = "Dry run (nothing written)" if self.dry_run else "Imported"
        return "\n".join([f"{head}: {self.source}", *self.lines()])


# --- Problems collector --------------------------------------------------------------------


@dataclass
class _Row:
    line: int  # CSV line where the record starts, or 1-based JSON index
    values: dict[str, str]  # column -> raw text, only for columns the row has
    record: int | None = None  # spreadsheet row, when it differs from `line`
    unreadable: set[str] = field(default_factory=set)  # columns already reported as unusable


@dataclass
class _Table:
    name: str
    label: str  # how problems name the file
    rows: list[_Row] = field(default_factory=list)
    missing_columns: set[str] = field(default_factory=set)  # reported once, at the header
    from_json: bool = False  # JSON strings may hold lone surrogates; decoded UTF-8 cannot


class _Problems:
    def __init__(self):
        self._items: list[tuple[int, int, int, Problem]] = []

    def __bool__(self):
        return bool(self._items)

    def add(self, file: str, row: int, column: str, message: str, table: str | None = None):
        order = TABLES.index(table) if table in COLUMNS else -1
        item = (order, row, len(self._items), Problem(file, row, _show(column), message))
        self._items.append(item)

    def at(self, table: _Table, row: _Row, column: str, message: str):
        if row.record is not None:
            message = f"{message} (spreadsheet row {row.record})"
        self.add(table.label, row.line, column, message, table.name)

    def sorted(self) -> list[Problem]:
        return [item[-1] for item in sorted(self._items, key=lambda i: i[:3])]


def _show(text: str, limit: int = 60) -> str:
    """A name from the file made safe to print on one line."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote(text: str) -> str:
    return f"'{_show(text)}'"


# --- Reading -------------------------------------------------------------------------------


def _read_dataset(path: Path, max_bytes: int, max_json_bytes: int, problems: _Problems):
    """(tables by name, label of the source) read from a folder of CSVs or a JSON file."""
    if path.is_dir():
        return _read_folder(path, max_bytes, problems), path.name
    if path.is_file() and path.suffix.lower() == ".json":
        return _read_json(path, min(max_bytes, max_json_bytes), problems), path.name
    if not path.exists():
        problems.add(str(path), FILE_ROW, WHOLE_ROW, "no such file or folder")
    else:
        problems.add(
            path.name,
            FILE_ROW,
            WHOLE_ROW,
            "expected a folder of CSV files or a .json file",
        )
    return {}, path.name


def _too_big(size: int, limit: int) -> str:
    return f"the file is {size / 2**20:.1f} MB, larger than the limit of {limit / 2**20:.0f} MB"


def _read_folder(folder: Path, max_bytes: int, problems: _Problems) -> dict[str, _Table]:
    files: dict[str, Path] = {}
    expected = ", ".join(f"{t}.csv" for t in TABLES)
    for entry in sorted(folder.iterdir()):
        if entry.suffix.lower() != ".csv":
            continue  # README.md and the like are not tables
        if entry.is_file() and entry.stem in COLUMNS and entry.suffix == ".csv":
            files[entry.stem] = entry
            continue
        hint = ""
        if entry.stem.lower() in COLUMNS:
            hint = f" (file names are lower-case: {entry.stem.lower()}.csv)"
        problems.add(
            entry.name,
            FILE_ROW,
            WHOLE_ROW,
            f"unknown table file{hint}; a dataset folder holds only {expected}",
        )
    if "mitigations" not in files:
        problems.add(
            "mitigations.csv",
            FILE_ROW,
            WHOLE_ROW,
            "mitigations.csv is required but is not in the folder",
            "mitigations",
        )
    tables = {}
    for name in TABLES:
        if name not in files:
            continue
        size = files[name].stat().st_size
        if size > max_bytes:
            problems.add(files[name].name, FILE_ROW, WHOLE_ROW, _too_big(size, max_bytes), name)
            continue
        table = _read_csv(files[name], name, problems)
        if table is not None:
            tables[name] = table
    return tables


def _decoded_lines(stream, label: str, table: str, problems: _Problems) -> Iterator[str]:
    """Lines of a binary stream as text; invalid UTF-8 is reported (with its byte offset)
    and replaced, so that the rest of the file is still checked. A leading BOM is dropped."""
    offset = 0
    for number, raw in enumerate(stream, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
            offset = len(codecs.BOM_UTF8)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.add(
                label,
                number,
                WHOLE_ROW,
                f"not valid UTF-8: byte 0x{raw[exc.start]:02X} at byte offset "
                f'{offset + exc.start} of the file; save the file as UTF-8 ("CSV UTF-8")',
                table,
            )
            text = raw.decode("utf-8", errors="replace")
        offset += len(raw)
        yield text


def _is_utf16(start: bytes) -> bool:
    return start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


def _read_csv(path: Path, name: str, problems: _Problems) -> _Table | None:
    label = path.name
    table = _Table(name, label)
    with path.open("rb") as stream:
        if _is_utf16(stream.read(4)):
            problems.add(
                label,
                FILE_ROW,
                WHOLE_ROW,
                'the file is UTF-16 encoded; save it as UTF-8 ("CSV UTF-8")',
                name,
            )
            return None
        stream.seek(0)
        reader = csv.reader(_decoded_lines(stream, label, name, problems), strict=True)
        try:
            header = next(reader, None)
            if header is None or not any(cell.strip() for cell in header):
                problems.add(label, 1, WHOLE_ROW, "the file has no header row", name)
                return None
            columns = _check_header(table, [cell.strip() for cell in header], problems)
            previous_line, record = reader.line_num, 1
            for cells in reader:
                row = _Row(previous_line + 1, {})
                previous_line = reader.line_num
                record += 1
                if record != row.line:
                    row.record = record
                if not any(cell.strip() for cell in cells):
                    continue  # blank line / empty spreadsheet row
                if len(cells) != len(columns):
                    problems.at(
                        table,
                        row,
                        WHOLE_ROW,
                        f"the row has {len(cells)} cells but the header has {len(columns)}",
                    )
                    continue
                row.values = {col: cell for col, cell in zip(columns, cells, strict=True) if col}
                table.rows.append(row)
        except csv.Error as exc:
            problems.add(
                label,
                reader.line_num,
                WHOLE_ROW,
                f"the CSV cannot be read past this line: {exc}",
                name,
            )
    return table


def _check_header(table: _Table, header: list[str], problems: _Problems) -> list[str]:
    """The columns to keep, in file order ('' for unknown or repeated columns)."""
    known = COLUMNS[table.name]
    kept, seen = [], set()
    for number, col in enumerate(header, start=1):
        if not col:
            problems.add(table.label, 1, f"#{number}", "the column has no name", table.name)
            kept.append("")
            continue
        if col in seen:
            problems.add(table.label, 1, col, "the column appears twice", table.name)
            kept.append("")
        elif col not in known:
            problems.add(table.label, 1, col, _unknown_column(table.name, col, header), table.name)
            kept.append("")
        else:
            kept.append(col)
        seen.add(col)
    for col in sorted(REQUIRED[table.name] - seen, key=known.index):
        problems.add(table.label, 1, col, "required column is missing", table.name)
        table.missing_columns.add(col)
    return kept


def _unknown_column(table: str, col: str, header: list[str]) -> str:
    known = COLUMNS[table]
    hint = ""
    if col.lower() in known:
        hint = f" (column names are lower-case: {col.lower()})"
    elif len(header) == 1 and (";" in col or "\t" in col):
        hint = " (the file seems to use ';' or tabs between cells; use commas)"
    return f"unknown column{hint}; expected: {', '.join(known)}"


class _JsonObject(dict):
    duplicates: list[str]


def _json_object(pairs):
    obj = _JsonObject()
    obj.duplicates = []
    for key, value in pairs:
        if key in obj:
            obj.duplicates.append(key)
        obj[key] = value
    return obj


def _read_json(path: Path, limit: int, problems: _Problems) -> dict[str, _Table]:
    label = path.name
    size = path.stat().st_size
    if size > limit:
        problems.add(
            label,
            FILE_ROW,
            WHOLE_ROW,
            f"{_too_big(size, limit)} for JSON, which is read into memory whole; "
            "export the dataset as a folder of CSV files, which is read row by row",
        )
        return {}
    raw = path.read_bytes()
    if _is_utf16(raw[:4]):
        problems.add(label, FILE_ROW, WHOLE_ROW, "the file is UTF-16 encoded; save it as UTF-8")
        return {}
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = "".join(_decoded_lines(io.BytesIO(raw), label, "", problems))
    del raw
    try:
        data = json.loads(text, object_pairs_hook=_json_object)
    except json.JSONDecodeError as exc:
        problems.add(
            label, exc.lineno, WHOLE_ROW, f"not valid JSON: {exc.msg} (column {exc.colno})"
        )
        return {}
    except (ValueError, RecursionError) as exc:  # e.g. an integer with thousands of digits
        problems.add(label, FILE_ROW, WHOLE_ROW, f"the JSON cannot be read: {exc}")
        return {}
    del text
    if not isinstance(data, dict):
        problems.add(
            label,
            FILE_ROW,
            WHOLE_ROW,
            'expected an object of tables, {"mitigations": [...], ...}',
        )
        return {}
    for name in data.duplicates:
        problems.add(label, FILE_ROW, name, "the table appears twice in the file")
    tables = {}
    for name, items in data.items():
        if name not in COLUMNS:
            problems.add(label, FILE_ROW, name, f"unknown table; expected: {', '.join(TABLES)}")
            continue
        if not isinstance(items, list):
            problems.add(label, FILE_ROW, name, "a table must be a list of objects", name)
            continue
        tables[name] = _json_table(name, f"{label}[{name}]", items, problems)
    if "mitigations" not in data:
        problems.add(label, FILE_ROW, "mitigations", "the mitigations table is required")
    return {name: tables[name] for name in TABLES if name in tables}


def _json_table(name: str, label: str, items: list, problems: _Problems) -> _Table:
    table = _Table(name, label, from_json=True)
    known = COLUMNS[name]
    unknown: dict[str, list[int]] = {}
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            problems.add(label, index, WHOLE_ROW, "expected an object {column: value}", name)
            continue
        row = _Row(index, {})
        for key in getattr(item, "duplicates", []):
            problems.add(label, index, key, "the key appears twice in this object", name)
        for key, value in item.items():
            if key not in known:
                unknown.setdefault(key, []).append(index)
                continue
            text = _json_cell(value)
            if text is None:
                problems.add(label, index, key, "expected a string, number, boolean or null", name)
                row.unreadable.add(key)
                continue
            row.values[key] = text
        table.rows.append(row)
    for key, rows in unknown.items():
        where = f" (in {len(rows)} objects)" if len(rows) > 1 else ""
        problems.add(
            label, rows[0], key, f"unknown column{where}; expected: {', '.join(known)}", name
        )
    return table


def _json_cell(value) -> str | None:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return value
    return None


# --- Cell conversion -----------------------------------------------------------------------


class _Bad(Exception):
    """A cell's value is not acceptable; the message says why."""


@dataclass(frozen=True)
class _Column:
    convert: Callable[[str], object]
    empty: object = ""  # the value of an empty cell


def _text(max_length: int | None = None):
    def convert(value: str) -> str:
        if max_length is not None and len(value) > max_length:
            raise _Bad(f"the value is {len(value)} characters long; at most {max_length} allowed")
        return value

    return convert


def _key(max_length: int):
    def convert(value: str) -> str:
        if not KEY.fullmatch(value):
            raise _Bad(f"{_quote(value)} is not a valid id: use only letters, digits, '-' and '_'")
        if len(value) > max_length:
            raise _Bad(f"the id is {len(value)} characters long; at most {max_length} allowed")
        return value

    return convert


def _taxonomy_code(value: str) -> str:
    if not TAXONOMY_CODE.fullmatch(value) or len(value) > 20:
        raise _Bad(f"{_quote(value)} is not a taxonomy code like 1, 1.2 or 1.2.3")
    return value


def _integer(minimum: int, maximum: int):
    def convert(value: str) -> int:
        if not INTEGER.fullmatch(value) or len(value) > 12:
            raise _Bad(f"{_quote(value)} is not a whole number")
        number = int(value)
        if not minimum <= number <= maximum:
            raise _Bad(f"{number} is out of range ({minimum} to {maximum})")
        return number

    return convert


def _decimal(max_digits: int, decimal_places: int):
    whole_digits = max_digits - decimal_places

    def convert(value: str) -> Decimal:
        if not DECIMAL.fullmatch(value):
            raise _Bad(f"{_quote(value)} is not a decimal number (use a point: 62.5)")
        try:
            number = Decimal(value)
        except DecimalException as exc:  # pragma: no cover - the pattern rules this out
            raise _Bad(f"{_quote(value)} is not a decimal number") from exc
        _sign, digits, exponent = number.as_tuple()
        digits = list(digits)
        while len(digits) > 1 and digits[-1] == 0 and exponent < 0:
            digits.pop()
            exponent += 1
        if -exponent > decimal_places:
            raise _Bad(f"{_quote(value)} has more than {decimal_places} decimal places")
        if len(digits) + exponent > whole_digits:
            raise _Bad(
                f"{_quote(value)} is too large (at most {whole_digits} digits before the point)"
            )
        return number

    return convert


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise _Bad(f"{_quote(value)} is not true or false")
    return lowered == "true"


def _date(value: str) -> datetime.date:
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise _Bad(f"{_quote(value)} is not a date in the form YYYY-MM-DD") from None


def _choice(choices):
    allowed = [str(value) for value in choices.values]

    def convert(value: str) -> str:
        if value not in allowed:
            raise _Bad(f"{_quote(value)} is not one of: {', '.join(allowed)}")
        return value

    return convert


def _url(max_length: int):
    validate = URLValidator(schemes=["http", "https"])

    def convert(value: str) -> str:
        try:
            validate(value)
        except (ValidationError, ValueError, UnicodeError):
            raise _Bad(f"{_quote(value)} is not an http(s) URL") from None
        return _text(max_length)(value)

    return convert


def _list(item: Callable[[str], object]):
    def convert(value: str) -> list:
        items, seen = [], set()
        for part in value.split(LIST_SEPARATOR):
            part = part.strip()
            if part and part not in seen:
                items.append(item(part))
                seen.add(part)
        return items

    return convert


def _max_length(model, name: str) -> int:
    return model._meta.get_field(name).max_length


def _columns() -> dict[str, dict[str, _Column]]:
    """How each column's cell is converted, per table."""
    text, m = _text(), Mitigation
    facet_name = _text(_max_length(FACET_TABLES["actors"], "name"))
    facet = {
        "name": _Column(facet_name),
        "description": _Column(text),
        "position": _Column(_integer(0, 2**31 - 1), 0),
    }
    code_len = _max_length(m, "code")
    source_key = _key(_max_length(SourceDocument, "key"))
    return {
        "taxonomy": {
            "code": _Column(_taxonomy_code),
            "name": _Column(_text(_max_length(TaxonomyCategory, "name"))),
            "description": _Column(text),
        },
        **dict.fromkeys(FACET_TABLES, facet),
        "sources": {
            "id": _Column(source_key),
            "title": _Column(_text(_max_length(SourceDocument, "title"))),
            "authors": _Column(_list(text), []),
            "year": _Column(_integer(0, 32767)),
            "url": _Column(_url(_max_length(SourceDocument, "url"))),
            "doi": _Column(_text(_max_length(SourceDocument, "doi"))),
            "abstract": _Column(text),
        },
        "mitigations": {
            "id": _Column(_key(code_len)),
            "name": _Column(_text(_max_length(m, "name"))),
            "definition": _Column(text),
            "additional_information": _Column(text),
            "reasoning": _Column(text),
            "classified_by": _Column(_choice(m.ClassifiedBy), m.ClassifiedBy.CLASSIFIER.value),
            "taxonomy_code": _Column(_taxonomy_code),
            "lifecycle_primary": _Column(facet_name, None),
            "lifecycle_other": _Column(_list(facet_name), []),
            "actor_primary": _Column(facet_name, None),
            "actor_other": _Column(_list(facet_name), []),
            "rmf_primary": _Column(facet_name, None),
            "rmf_other": _Column(_list(facet_name), []),
            "source_ids": _Column(_list(source_key), []),
            "related_ids": _Column(_list(_key(code_len)), []),
            "status": _Column(_choice(m.Status), m.Status.POLISHING.value),
        },
        "figures": {
            "mitigation_id": _Column(_key(code_len)),
            "key": _Column(_key(_max_length(Figure, "key"))),
            "label": _Column(_text(_max_length(Figure, "label"))),
            "value": _Column(
                _decimal(Figure.value.field.max_digits, Figure.value.field.decimal_places)
            ),
            "unit": _Column(_text(_max_length(Figure, "unit"))),
            "risk_area": _Column(_text(_max_length(Figure, "risk_area"))),
            "sample_size": _Column(_integer(0, 2**31 - 1), None),
            "preliminary": _Column(_boolean, True),
            "embargo_until": _Column(_date, None),
            "note": _Column(text),
        },
    }


def _cell_problem(value: str, from_json: bool) -> str | None:
    if "\x00" in value:
        return "the value contains a NUL byte"
    if from_json and SURROGATE.search(value):
        return "the value contains invalid Unicode (a lone surrogate)"
    if len(value) > MAX_CELL_CHARS:
        return f"the value is {len(value)} characters long; a cell holds at most {MAX_CELL_CHARS}"
    return None


@dataclass
class _Record:
    row: _Row
    values: dict[str, object]  # converted values of the columns the row has
    ok: bool = True


def _convert(table: _Table, columns: dict[str, _Column], problems: _Problems, tick):
    records = []
    required = REQUIRED[table.name]
    for done, row in enumerate(table.rows, start=1):
        record = _Record(row, {})
        for col, raw in row.values.items():
            bad = _cell_problem(raw, table.from_json)
            value = raw.strip()
            if bad is None and not value and col in required:
                bad = "a value is required"
            if bad is None:
                try:
                    record.values[col] = (
                        columns[col].convert(value) if value else columns[col].empty
                    )
                except _Bad as exc:
                    bad = str(exc)
            if bad is not None:
                problems.at(table, row, col, bad)
                record.ok = False
        for col in sorted(required - row.values.keys() - table.missing_columns - row.unreadable):
            problems.at(table, row, col, "a value is required (the column is missing)")
            record.ok = False
        records.append(record)
        tick(done)
    return records


# --- The import ----------------------------------------------------------------------------


def import_dataset(
    path,
    *,
    dry_run: bool = False,
    progress: Progress | bool | None = None,
    user=None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_json_bytes: int = DEFAULT_MAX_JSON_BYTES,
) -> ImportReport:
    """Validate the dataset at `path` and upsert it; raise DatasetError, writing nothing,
    if anything is wrong. `user` is recorded as the author of the history versions."""
    started = time.monotonic()
    path = Path(path)
    problems = _Problems()
    if progress is True:
        progress = TqdmProgress()
    try:
        tables, source = _read_dataset(path, max_bytes, max_json_bytes, problems)
        columns = _columns()
        records = {}
        for name, table in tables.items():
            tick = _ticker(progress, f"checking {name}", len(table.rows))
            records[name] = _convert(table, columns[name], problems, tick)
        report = ImportReport(source=source, dry_run=dry_run, tables=list(tables))
        with transaction.atomic():
            plan = _Plan(tables, records, problems, report, progress)
            plan.check()
            if problems:
                raise DatasetError(problems.sorted())
            plan.diff()
            if dry_run:
                transaction.set_rollback(True)
            else:
                plan.write(user=user, reason=f"Import of {source}"[:100])
                if report.changed:
                    transaction.on_commit(_bump_cache_version)
    finally:
        if hasattr(progress, "close"):
            progress.close()
    report.seconds = time.monotonic() - started
    return report


def _bump_cache_version():
    from portal.lib.page_cache import bump_data_version

    bump_data_version()


def _ticker(progress, step: str, total: int):
    if progress is None or total <= PROGRESS_THRESHOLD:
        return lambda done: None

    def tick(done):
        if done % 500 == 0 or done == total:
            progress(step, done, total)

    return tick


class TqdmProgress:
    """A `progress` callable drawing one tqdm bar per step on stderr."""

    def __init__(self, file=None):
        self.file = file or sys.stderr
        self.step, self.bar = None, None

    def __call__(self, step: str, done: int, total: int):
        from tqdm import tqdm

        if step != self.step:
            self.close()
            self.step = step
            self.bar = tqdm(total=total, desc=step, unit="rows", file=self.file, leave=False)
        self.bar.n = done
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()
        self.step, self.bar = None, None


def _chunks(values, size=CHUNK_SIZE):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _in(queryset, lookup: str, values):
    """`queryset.filter(lookup__in=values)`, run in chunks so any number of values works."""
    for chunk in _chunks(values):
        yield from queryset.filter(**{f"{lookup}__in": chunk})


def _did_you_mean(value: str, names: Iterable[str]) -> str:
    lowered = value.casefold()
    for name in names:
        if name.casefold() == lowered:
            return f" (did you mean {_quote(name)}?)"
    return ""


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
FIGURE_FIELDS = [
    "label",
    "value",
    "unit",
    "risk_area",
    "sample_size",
    "preliminary",
    "embargo_until",
    "note",
]


class _RowWriter:
    """Inserts new rows (and their simple_history "+" records) quickly.

    Why not `bulk_create_with_history`: for 10,000 mitigations with 60,000 figures it spends
    ~25 s of CPU in Django's per-value INSERT compilation (about two million values, history
    included) and, on PostgreSQL, in per-parameter adaptation. Here each value is prepared once
    with the field's own `pre_save`/`get_db_prep_save` (so the database sees exactly what
    bulk_create would send), the history row reuses the prepared values, and the rows are sent
    with COPY on PostgreSQL (ids drawn from the table's sequence first) or with multi-row
    `INSERT … RETURNING` elsewhere. The history rows have the columns simple_history's
    historical model declares, filled as `bulk_history_create` fills them (tracked fields,
    `history_date`, `history_type` "+", `history_user`, `history_change_reason`); any other
    column is an error rather than a silent gap. Backends without RETURNING fall back to
    simple_history's `bulk_create_with_history`. Updates always use simple_history's
    `bulk_update_with_history`. SQL is built only from model metadata (quoted names); every
    value is a bound parameter or a COPY row.
    """

    def __init__(self, user, reason: str, date):
        self.user, self.reason, self.date = user, reason, date
        self.connection = connections[DEFAULT_DB_ALIAS]  # not the per-access proxy
        # COPY needs psycopg 3 (the project's driver); with psycopg2, INSERT … RETURNING is used.
        self.postgres = (
            self.connection.vendor == "postgresql"
            and getattr(self.connection.Database, "__name__", "") == "psycopg"
        )
        self.fast = self.postgres or self.connection.features.can_return_rows_from_bulk_insert

    def create(self, model, items: list[dict], history: bool = True) -> list:
        """Insert rows given as {attname: value} (absent fields get their default, auto_now
        fields the import's time) and, when `history`, their history records; return the pks."""
        if not items:
            return []
        if not self.fast:  # pragma: no cover - SQLite >= 3.35 and PostgreSQL are fast
            objs = [model(**item) for item in items]
            if history:
                objs = bulk_create_with_history(
                    objs, model, batch_size=BATCH_SIZE, default_user=self.user,
                    default_change_reason=self.reason, default_date=self.date,
                )  # fmt: skip
            else:
                objs = model.objects.bulk_create(objs, batch_size=BATCH_SIZE)
            return [obj.pk for obj in objs]
        pk = model._meta.pk
        fields = [f for f in model._meta.concrete_fields if f is not pk]
        plan = []
        for f in fields:
            # str/int/bool/None values of text, integer, boolean and key fields go to the
            # database as they are (their get_db_prep_save is the identity for them).
            target = f.target_field if f.is_relation else f
            prepare = None if isinstance(target, PLAIN_FIELDS) else f.get_db_prep_save
            if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                default = self.date
            else:
                default = f.get_default()
            if prepare is not None:
                default = prepare(default, self.connection)
            plan.append((f.attname, prepare, default))
        connection_ = self.connection
        rows = []
        for item in items:
            row = []
            for attname, prepare, default in plan:
                if attname not in item:
                    row.append(default)
                elif prepare is None:
                    row.append(item[attname])
                else:
                    row.append(prepare(item[attname], connection_))
            rows.append(row)
        pks = self.insert(model._meta.db_table, [f.column for f in fields], rows, returning=pk)
        if history:
            self._history(model, fields, rows, pks)
        return pks

    def _history(self, model, fields, rows, pks):
        historical = get_history_manager_for_model(model).model
        index = {f.attname: i for i, f in enumerate(fields)}
        user_pk = self.user.pk if self.user is not None else None
        fixed = {
            "history_type": "+",
            "history_change_reason": self.reason,
            "history_user_id": user_pk,
        }
        columns, picks = [], []
        for f in historical._meta.concrete_fields:
            if f is historical._meta.pk:
                continue
            if f.attname == model._meta.pk.attname:
                picks.append(("pk", None))
            elif f.attname in index:
                picks.append(("row", index[f.attname]))
            elif f.attname == "history_date":
                picks.append(("fixed", f.get_db_prep_save(self.date, self.connection)))
            elif f.attname in fixed:
                picks.append(("fixed", f.get_db_prep_save(fixed[f.attname], self.connection)))
            else:
                raise ImproperlyConfigured(
                    f"{historical.__name__}.{f.attname}: the importer does not know how to fill "
                    "this history column (see _RowWriter)."
                )
            columns.append(f.column)
        history_rows = [
            [pk if kind == "pk" else row[arg] if kind == "row" else arg for kind, arg in picks]
            for row, pk in zip(rows, pks, strict=True)
        ]
        self.insert(historical._meta.db_table, columns, history_rows)

    def insert(self, table: str, columns: list[str], rows: list[list], returning=None) -> list:
        """Insert prepared rows; return the new primary keys when `returning` (the pk field)."""
        quote = self.connection.ops.quote_name
        names = ", ".join(quote(c) for c in columns)
        pks = []
        with self.connection.cursor() as cursor:
            if self.postgres:
                if returning is not None:
                    cursor.execute(
                        "SELECT nextval(pg_get_serial_sequence(%s, %s)) "
                        "FROM generate_series(1, %s)",
                        [quote(table), returning.column, len(rows)],
                    )
                    pks = [row[0] for row in cursor.fetchall()]
                    names = f"{quote(returning.column)}, {names}"
                    rows = [[pk, *row] for pk, row in zip(pks, rows, strict=True)]
                with cursor.cursor.copy(f"COPY {quote(table)} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                return pks
            tail = f" RETURNING {quote(returning.column)}" if returning is not None else ""
            placeholder = f"({', '.join(['%s'] * len(columns))})"
            for chunk in _chunks(rows, max(1, min(BATCH_SIZE, 30000 // max(1, len(columns))))):
                sql = f"INSERT INTO {quote(table)} ({names}) VALUES "  # noqa: S608
                sql += ", ".join([placeholder] * len(chunk)) + tail
                cursor.execute(sql, [value for row in chunk for value in row])
                if returning is not None:
                    pks.extend(row[0] for row in cursor.fetchall())
        return pks


class _Plan:
    """Checks the records against each other and the database, then works out and performs
    the writes. Everything here runs inside the import's transaction."""

    def __init__(self, tables, records, problems, report, progress):
        self.tables = tables
        self.records: dict[str, list[_Record]] = records
        self.problems = problems
        self.report = report
        self.progress = progress
        # Existing rows, by natural key.
        self.taxonomy = {c.code: c for c in TaxonomyCategory.objects.all()}
        self.facets = {
            table: {f.name: f for f in model.objects.all()} for table, model in FACET_TABLES.items()
        }
        self.sources = {s.key: s for s in SourceDocument.objects.all()}
        self.mitigations: dict[str, Mitigation] = {}
        self.mitigation_pks: dict[str, int] = {}  # existing mitigations referenced by the file
        # Planned writes.
        self.creates: dict[str, list] = defaultdict(list)
        self.updates: dict[str, list] = defaultdict(list)
        self.update_fields: dict[str, set[str]] = defaultdict(set)
        self.link_adds: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.link_removes: dict[str, list[int]] = defaultdict(list)
        self.mitigation_changes: dict[str, tuple[set[str], dict]] = {}

    def _good(self, table):
        """Records of `table` (an empty list when the dataset lacks it)."""
        return self.records.get(table, [])

    # --- checks -----------------------------------------------------------------------

    def _unique(self, table, key_columns):
        """Report repeated keys; return {key: record} of first occurrences."""
        seen: dict = {}
        for record in self._good(table):
            if not all(col in record.values for col in key_columns):
                continue
            key = tuple(record.values[col] for col in key_columns)
            key = key[0] if len(key) == 1 else key
            if key in seen:
                what = " / ".join(
                    _quote(str(k)) for k in (key if isinstance(key, tuple) else [key])
                )
                self.problems.at(
                    self.tables[table],
                    record.row,
                    key_columns[-1],
                    f"{what} appears more than once (first on row {seen[key].row.line})",
                )
                record.ok = False
            else:
                seen[key] = record
        return seen

    def check(self):
        t = self.tables
        taxonomy = self._unique("taxonomy", ["code"])
        known_codes = set(self.taxonomy) | set(taxonomy)
        for code, record in taxonomy.items():
            parent = TaxonomyCategory.parent_code(code)
            if parent is not None and parent not in known_codes:
                self.problems.at(
                    t["taxonomy"],
                    record.row,
                    "code",
                    f"the parent category {_quote(parent)} does not exist (add it to taxonomy.csv)",
                )
        known_facets = {}
        for table, model in FACET_TABLES.items():
            in_file = self._unique(table, ["name"])
            known_facets[table] = set(self.facets[table]) | set(in_file)
            owners = {f.slug: f.name for f in self.facets[table].values()}
            slug_length = _max_length(model, "slug")
            for name, record in in_file.items():
                slug = slugify(name)[:slug_length]
                if LIST_SEPARATOR in name:
                    self.problems.at(
                        t[table],
                        record.row,
                        "name",
                        f"a name cannot contain '{LIST_SEPARATOR}' (it separates the names in "
                        "list cells of mitigations.csv)",
                    )
                elif not slug:
                    self.problems.at(
                        t[table],
                        record.row,
                        "name",
                        "the name needs at least one letter or digit (it makes the URL slug)",
                    )
                elif owners.setdefault(slug, name) != name:
                    self.problems.at(
                        t[table],
                        record.row,
                        "name",
                        f"{_quote(name)} gives the same URL slug {_quote(slug)} as "
                        f"{_quote(owners[slug])}; names must differ in more than case and "
                        "punctuation",
                    )
        known_sources = set(self.sources) | set(self._unique("sources", ["id"]))
        mitigations = self._unique("mitigations", ["id"])
        figures = self._unique("figures", ["mitigation_id", "key"])
        # Existing mitigations: those in the file (full rows) and those it refers to.
        referenced = set()
        for record in mitigations.values():
            referenced.update(record.values.get("related_ids", []))
        for record in self._good("figures"):
            if "mitigation_id" in record.values:
                referenced.add(record.values["mitigation_id"])
        self.mitigations = {
            m.code: m
            for m in _in(Mitigation.objects.defer("search_vector"), "code", list(mitigations))
        }
        self.mitigation_pks = {code: m.pk for code, m in self.mitigations.items()}
        self.mitigation_pks.update(
            _in(
                Mitigation.objects.values_list("code", "pk"),
                "code",
                referenced - set(mitigations) - set(self.mitigations),
            )
        )
        known_mitigations = set(self.mitigation_pks) | set(mitigations)

        def check_name(table, record, col, value, known_names):
            if value is not None and value not in known_names:
                self.problems.at(
                    t["mitigations"],
                    record.row,
                    col,
                    f"unknown {table.replace('_', ' ')[:-1]} {_quote(value)}"
                    f"{_did_you_mean(value, known_names)}; it must be in {table}.csv "
                    "or already in the database",
                )
                record.ok = False

        for code, record in mitigations.items():
            values = record.values
            if "taxonomy_code" in values and values["taxonomy_code"] not in known_codes:
                self.problems.at(
                    t["mitigations"],
                    record.row,
                    "taxonomy_code",
                    f"unknown taxonomy code {_quote(values['taxonomy_code'])}; it must be in "
                    "taxonomy.csv or already in the database",
                )
            for col, table in PRIMARY_FACETS.items():
                if col in values:
                    check_name(table, record, col, values[col], known_facets[table])
            for col, (_field, table) in MANY_TO_MANY.items():
                for value in values.get(col, []):
                    if table in FACET_TABLES:
                        check_name(table, record, col, value, known_facets[table])
                    elif table == "sources" and value not in known_sources:
                        self.problems.at(
                            t["mitigations"],
                            record.row,
                            col,
                            f"unknown source id {_quote(value)}; it must be in sources.csv "
                            "or already in the database",
                        )
                    elif table == "mitigations" and value == code:
                        self.problems.at(
                            t["mitigations"],
                            record.row,
                            col,
                            "a mitigation cannot be related to itself",
                        )
                    elif table == "mitigations" and value not in known_mitigations:
                        self.problems.at(
                            t["mitigations"],
                            record.row,
                            col,
                            f"unknown mitigation id {_quote(value)}; it must be in "
                            "mitigations.csv or already in the database",
                        )
        for (code, _figure_key), record in figures.items():
            if code not in known_mitigations:
                self.problems.at(
                    t["figures"],
                    record.row,
                    "mitigation_id",
                    f"unknown mitigation id {_quote(code)}; it must be in mitigations.csv "
                    "or already in the database",
                )

    # --- diff ---------------------------------------------------------------------------

    def _count(self, table, created=0, updated=0, unchanged=0):
        counts = self.report.counts[table]
        counts.created += created
        counts.updated += updated
        counts.unchanged += unchanged

    def _apply(self, table, obj, values: dict, fields: Iterable[str]) -> bool:
        """Set the given fields on an existing row; True (and queued) when one changed."""
        changed = [f for f in fields if f in values and getattr(obj, f) != values[f]]
        for name in changed:
            setattr(obj, name, values[name])
        if changed:
            self.updates[table].append(obj)
            self.update_fields[table].update(changed)
        return bool(changed)

    def diff(self):
        self._diff_taxonomy()
        for table, model in FACET_TABLES.items():
            self._diff_facets(table, model)
        self._diff_sources()
        self._diff_mitigations()
        self._diff_figures()

    def _diff_taxonomy(self):
        for record in self._good("taxonomy"):
            values = record.values
            existing = self.taxonomy.get(values["code"])
            if existing is None:
                code = values["code"]
                self.creates["taxonomy"].append(
                    TaxonomyCategory(
                        code=code,
                        name=values["name"],
                        description=values.get("description", ""),
                        level=code.count(".") + 1,
                        sort_key=code_sort_key(code),
                    )
                )
                self._count("taxonomy", created=1)
            elif self._apply("taxonomy", existing, values, ["name", "description"]):
                self._count("taxonomy", updated=1)
            else:
                self._count("taxonomy", unchanged=1)

    def _diff_facets(self, table, model):
        slug_length = _max_length(model, "slug")
        for record in self._good(table):
            values = dict(record.values)
            values["slug"] = slugify(values["name"])[:slug_length]
            existing = self.facets[table].get(values["name"])
            if existing is None:
                self.creates[table].append(model(**values))
                self._count(table, created=1)
            elif self._apply(table, existing, values, ["slug", "description", "position"]):
                self._count(table, updated=1)
            else:
                self._count(table, unchanged=1)

    def _diff_sources(self):
        rename = {"id": "key"}
        for record in self._good("sources"):
            values = {rename.get(k, k): v for k, v in record.values.items()}
            existing = self.sources.get(values["key"])
            if existing is None:
                self.creates["sources"].append(SourceDocument(**values))
                self._count("sources", created=1)
            elif self._apply(
                "sources", existing, values, ["title", "authors", "year", "url", "doi", "abstract"]
            ):
                self._count("sources", updated=1)
            else:
                self._count("sources", unchanged=1)

    def _existing_links(self):
        """{column: {mitigation code: {through row id: natural key of the target}}}."""
        pks = {m.pk: code for code, m in self.mitigations.items()}
        names = {
            "lifecycle_stages": {f.pk: n for n, f in self.facets["lifecycle_stages"].items()},
            "actors": {f.pk: n for n, f in self.facets["actors"].items()},
            "rmf_functions": {f.pk: n for n, f in self.facets["rmf_functions"].items()},
            "sources": {s.pk: k for k, s in self.sources.items()},
        }
        links = {}
        for col, (field_name, table) in MANY_TO_MANY.items():
            model_field = Mitigation._meta.get_field(field_name)
            source, target = model_field.m2m_column_name(), model_field.m2m_reverse_name()
            rows = list(
                _in(
                    model_field.remote_field.through.objects.values_list("pk", source, target),
                    source,
                    pks,
                )
            )
            if table == "mitigations":
                unknown = {to for _pk, _from, to in rows} - set(pks)
                names[table] = dict(pks)
                names[table].update(
                    _in(Mitigation.objects.values_list("pk", "code"), "pk", unknown)
                )
            links[col] = defaultdict(dict)
            for pk, frm, to in rows:
                links[col][pks[frm]][pk] = names[table][to]
        return links

    def _diff_mitigations(self):
        records = self._good("mitigations")
        links = self._existing_links() if self.mitigations else {}
        category_codes = {c.pk: code for code, c in self.taxonomy.items()}
        facet_names = {
            table: {f.pk: n for n, f in facets.items()} for table, facets in self.facets.items()
        }
        tick = _ticker(self.progress, "comparing mitigations", len(records))
        for done, record in enumerate(records, start=1):
            tick(done)
            values = record.values
            code = values["id"]
            existing = self.mitigations.get(code)
            if existing is None:
                self.creates["mitigations"].append(record)
                for col in MANY_TO_MANY:
                    self.link_adds[col].extend((code, v) for v in values.get(col, []))
                self._count("mitigations", created=1)
                continue
            changed = {
                name
                for name in SIMPLE_MITIGATION_FIELDS
                if name in values and getattr(existing, name) != values[name]
            }
            if (
                "taxonomy_code" in values
                and category_codes.get(existing.category_id) != values["taxonomy_code"]
            ):
                changed.add("category")
            for col, table in PRIMARY_FACETS.items():
                current = facet_names[table].get(getattr(existing, f"{col}_id"))
                if col in values and current != values[col]:
                    changed.add(col)
            links_changed = False
            for col in MANY_TO_MANY:
                if col not in values:
                    continue
                current = links[col].get(code, {})
                wanted = set(values[col])
                removes = [pk for pk, key in current.items() if key not in wanted]
                adds = wanted - set(current.values())
                self.link_removes[col].extend(removes)
                self.link_adds[col].extend((code, v) for v in sorted(adds))
                links_changed = links_changed or bool(removes or adds)
            if changed or links_changed:
                for name in changed & set(SIMPLE_MITIGATION_FIELDS):
                    setattr(existing, name, values[name])
                self.mitigation_changes[code] = (changed, values)  # ids resolved in `write`
                self.updates["mitigations"].append(existing)
                self.update_fields["mitigations"].update(changed)
                self._count("mitigations", updated=1)
            else:
                self._count("mitigations", unchanged=1)

    def _diff_figures(self):
        records = self._good("figures")
        codes = {r.values["mitigation_id"] for r in records}
        pks = {code: pk for code, pk in self.mitigation_pks.items() if code in codes}
        by_pk = {pk: code for code, pk in pks.items()}
        # Plain tuples, not model instances: a re-import compares tens of thousands of rows
        # and only the changed ones need an instance (for bulk_update and its history).
        names = [f.attname for f in Figure._meta.concrete_fields]
        existing = {
            (by_pk[row["mitigation_id"]], row["key"]): row
            for row in (
                dict(zip(names, values, strict=True))
                for values in _in(Figure.objects.values_list(*names), "mitigation_id", by_pk)
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
                self.creates["figures"].append((code, values))
                self._count("figures", created=1)
            elif any(f in values and current[f] != values[f] for f in compared):
                self._apply("figures", Figure(**current), values, compared)
                self._count("figures", updated=1)
            else:
                self._count("figures", unchanged=1)

    # --- writes -------------------------------------------------------------------------

    def _batches(self, step, objs):
        tick = _ticker(self.progress, step, len(objs))
        for start in range(0, len(objs), WRITE_STEP):
            yield objs[start : start + WRITE_STEP]
            tick(min(start + WRITE_STEP, len(objs)))

    def write(self, user, reason):
        now = timezone.now()
        history = {
            "default_user": user,
            "default_change_reason": reason,
            "default_date": now,  # one import, one moment
            "batch_size": BATCH_SIZE,
        }
        writer = _RowWriter(user, reason, now)
        # Taxonomy, parents first (a level at a time), so each child can point at its parent.
        category_pks = {code: c.pk for code, c in self.taxonomy.items()}
        by_level = defaultdict(list)
        for category in self.creates["taxonomy"]:
            by_level[category.level].append(category)
        for level in sorted(by_level):
            for category in by_level[level]:
                parent = TaxonomyCategory.parent_code(category.code)
                category.parent_id = category_pks[parent] if parent else None
            TaxonomyCategory.objects.bulk_create(by_level[level], batch_size=BATCH_SIZE)
            category_pks.update(
                _in(
                    TaxonomyCategory.objects.values_list("code", "pk"),
                    "code",
                    [c.code for c in by_level[level]],
                )
            )
        self._update("taxonomy", TaxonomyCategory)
        # Facets and sources.
        facet_pks = {}
        for table, model in FACET_TABLES.items():
            model.objects.bulk_create(self.creates[table], batch_size=BATCH_SIZE)
            self._update(table, model)
            facet_pks[table] = dict(model.objects.values_list("name", "pk"))
        SourceDocument.objects.bulk_create(self.creates["sources"], batch_size=BATCH_SIZE)
        self._update("sources", SourceDocument)
        source_pks = dict(SourceDocument.objects.values_list("key", "pk"))

        def resolve(obj, values, names):
            if "category" in names:
                obj.category_id = category_pks[values["taxonomy_code"]]
            for col, table in PRIMARY_FACETS.items():
                if col in names and values.get(col) is not None:
                    setattr(obj, f"{col}_id", facet_pks[table][values[col]])
                elif col in names:
                    setattr(obj, f"{col}_id", None)

        # Mitigations.
        new = []
        for record in self.creates["mitigations"]:
            values = record.values
            item = {"code": values["id"], "category_id": category_pks[values["taxonomy_code"]]}
            item.update((name, values[name]) for name in SIMPLE_MITIGATION_FIELDS if name in values)
            for col, table in PRIMARY_FACETS.items():
                if values.get(col) is not None:
                    item[f"{col}_id"] = facet_pks[table][values[col]]
            new.append(item)
        self._assign_slugs(new)
        for batch in self._batches("writing mitigations", new):
            pks = writer.create(Mitigation, batch)
            self.mitigation_pks.update(
                (item["code"], pk) for item, pk in zip(batch, pks, strict=True)
            )
        updated = self.updates["mitigations"]
        for obj in updated:
            changed, values = self.mitigation_changes[obj.code]
            resolve(obj, values, changed)
            obj.updated_at = now
        fields = {"updated_at", *self.update_fields["mitigations"]}
        for batch in self._batches("updating mitigations", updated):
            bulk_update_with_history(batch, Mitigation, sorted(fields), **history)
        # Many-to-many links.
        targets = {
            "lifecycle_stages": facet_pks["lifecycle_stages"],
            "actors": facet_pks["actors"],
            "rmf_functions": facet_pks["rmf_functions"],
            "sources": source_pks,
            "mitigations": self.mitigation_pks,
        }
        for col, (field_name, table) in MANY_TO_MANY.items():
            model_field = Mitigation._meta.get_field(field_name)
            through = model_field.remote_field.through
            for chunk in _chunks(self.link_removes[col]):
                through.objects.filter(pk__in=chunk).delete()
            pairs = [
                [self.mitigation_pks[code], targets[table][key]]
                for code, key in self.link_adds[col]
            ]
            columns = [model_field.m2m_column_name(), model_field.m2m_reverse_name()]
            for batch in self._batches(f"linking {col}", pairs):
                writer.insert(through._meta.db_table, columns, batch)
        # Figures.
        figures = [
            {"mitigation_id": self.mitigation_pks[code], **values}
            for code, values in self.creates["figures"]
        ]
        for batch in self._batches("writing figures", figures):
            writer.create(Figure, batch)
        for batch in self._batches("updating figures", self.updates["figures"]):
            bulk_update_with_history(
                batch, Figure, sorted(self.update_fields["figures"]), **history
            )

    def _update(self, table, model):
        objs = self.updates[table]
        if objs:
            model.objects.bulk_update(
                objs, sorted(self.update_fields[table]), batch_size=BATCH_SIZE
            )

    def _assign_slugs(self, new: list[dict]):
        """make_slug(name, code) for each new mitigation, made unique if it is taken."""
        length = _max_length(Mitigation, "slug")
        wanted = {}
        for item in new:
            slug = Mitigation.make_slug(item["name"], item["code"])
            if len(slug) > length:  # keep the id at the end, shorten the name part
                suffix = f"-{item['code'].lower()}"
                slug = slugify(item["name"])[: length - len(suffix)].rstrip("-") + suffix
            wanted[item["code"]] = slug
        taken = set(_in(Mitigation.objects.values_list("slug", flat=True), "slug", wanted.values()))
        used = set()
        for item in new:
            base = slug = wanted[item["code"]]
            number = 1
            while slug in used or slug in taken:
                number += 1
                suffix = f"-{number}"
                slug = base[: length - len(suffix)] + suffix
                if Mitigation.objects.filter(slug=slug).exists():
                    taken.add(slug)
            used.add(slug)
            item["slug"] = slug


# --- Uploads (the admin's import page) ------------------------------------------------------

UPLOAD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
MAX_ZIP_MEMBERS = 100


def dataset_from_upload(files, workdir, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Path:
    """Lay out uploaded files (one .zip of CSVs, one .json, or several .csv) as a dataset in
    `workdir` (an empty temporary folder) and return the path to pass to `import_dataset`.

    Zips are extracted safely: only `.csv` members are taken, by their base name, into
    `workdir` (no paths, so no traversal); symbolic links and encrypted members are refused;
    sizes are counted while extracting (headers can lie) and capped at `max_bytes` a file and
    in total. Raises DatasetError for anything unusable.
    """
    workdir = Path(workdir)
    problems = _Problems()
    names = [Path(str(getattr(f, "name", "") or "upload")).name for f in files]
    kinds = [Path(name).suffix.lower() for name in names]
    if not files:
        problems.add("upload", FILE_ROW, WHOLE_ROW, "no file was uploaded")
    elif kinds in ([".zip"], [".json"]) or (kinds and set(kinds) == {".csv"}):
        if kinds == [".zip"]:
            _extract_zip(files[0], names[0], workdir, max_bytes, problems)
            target = workdir
        elif kinds == [".json"]:
            target = workdir / (names[0] if UPLOAD_NAME.fullmatch(names[0]) else "dataset.json")
            _save_upload(files[0], names[0], target, max_bytes, problems)
        else:
            target = workdir
            for upload, name in zip(files, names, strict=True):
                if not UPLOAD_NAME.fullmatch(name):
                    problems.add(_show(name), FILE_ROW, WHOLE_ROW, "unusable file name")
                elif (workdir / name).exists():
                    problems.add(name, FILE_ROW, WHOLE_ROW, "the file was uploaded twice")
                else:
                    _save_upload(upload, name, workdir / name, max_bytes, problems)
    else:
        problems.add(
            "upload",
            FILE_ROW,
            WHOLE_ROW,
            "upload one .zip of CSV files, one .json file, or one or more .csv files "
            f"(got: {', '.join(_show(n) for n in names)})",
        )
    if problems:
        raise DatasetError(problems.sorted())
    return target


def _save_upload(upload, name, target: Path, max_bytes: int, problems: _Problems):
    size = getattr(upload, "size", None)
    if size is not None and size > max_bytes:
        problems.add(name, FILE_ROW, WHOLE_ROW, _too_big(size, max_bytes))
        return
    written = 0
    with target.open("wb") as out:
        for chunk in upload.chunks() if hasattr(upload, "chunks") else iter(upload.read, b""):
            written += len(chunk)
            if written > max_bytes:
                problems.add(name, FILE_ROW, WHOLE_ROW, _too_big(written, max_bytes))
                break
            out.write(chunk)


def _extract_zip(upload, name: str, workdir: Path, max_bytes: int, problems: _Problems):
    import stat
    import zipfile
    import zlib

    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        problems.add(name, FILE_ROW, WHOLE_ROW, f"not a readable zip file: {exc}")
        return
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) > MAX_ZIP_MEMBERS:
            problems.add(name, FILE_ROW, WHOLE_ROW, f"more than {MAX_ZIP_MEMBERS} files in the zip")
            return
        total = 0
        for info in members:
            inner = info.filename.replace("\\", "/")
            base = inner.rsplit("/", 1)[-1]
            where = f"{name}/{_show(inner)}"
            if (
                base.startswith(".")
                or "__MACOSX" in inner.split("/")
                or not base.lower().endswith(".csv")
            ):
                continue  # README, .DS_Store, resource forks: not part of the dataset
            if stat.S_ISLNK(info.external_attr >> 16):
                problems.add(where, FILE_ROW, WHOLE_ROW, "symbolic links are not allowed")
                continue
            if info.flag_bits & 0x1:
                problems.add(where, FILE_ROW, WHOLE_ROW, "encrypted files are not supported")
                continue
            if not UPLOAD_NAME.fullmatch(base):
                problems.add(where, FILE_ROW, WHOLE_ROW, "unusable file name")
                continue
            target = workdir / base
            if target.exists():
                problems.add(where, FILE_ROW, WHOLE_ROW, f"{base} appears twice in the zip")
                continue
            written = 0
            try:
                with archive.open(info) as source, target.open("wb") as out:
                    while chunk := source.read(1024 * 1024):
                        written += len(chunk)
                        total += len(chunk)
                        if written > max_bytes or total > max_bytes:
                            problems.add(
                                where,
                                FILE_ROW,
                                WHOLE_ROW,
                                f"the zip holds more than {max_bytes / 2**20:.0f} MB of data",
                            )
                            return
                        out.write(chunk)
            except (zipfile.BadZipFile, zlib.error, OSError, NotImplementedError, EOFError) as exc:
                problems.add(where, FILE_ROW, WHOLE_ROW, f"cannot be extracted: {exc}")
