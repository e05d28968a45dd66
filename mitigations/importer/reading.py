"""Reading a dataset: a folder of CSV files (streamed line by line) or one JSON file (read
whole), into tables of raw text cells. Unreadable input becomes problems, not exceptions."""

import codecs
import csv
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path

from mitigations.dataset import COLUMNS, IMPORT_COLUMNS, REQUIRED, TABLES
from mitigations.importer.problems import FILE_ROW, WHOLE_ROW, Problems, Row, Table

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_JSON_BYTES = 32 * 1024 * 1024


def read_dataset(path: Path, max_bytes: int, max_json_bytes: int, problems: Problems):
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


def too_big(size: int, limit: int) -> str:
    return f"the file is {size / 2**20:.1f} MB, larger than the limit of {limit / 2**20:.0f} MB"


def _read_folder(folder: Path, max_bytes: int, problems: Problems) -> dict[str, Table]:
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
            problems.add(files[name].name, FILE_ROW, WHOLE_ROW, too_big(size, max_bytes), name)
            continue
        table = _read_csv(files[name], name, problems)
        if table is not None:
            tables[name] = table
    return tables


def _decoded_lines(stream, label: str, table: str, problems: Problems) -> Iterator[str]:
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


def _read_csv(path: Path, name: str, problems: Problems) -> Table | None:
    label = path.name
    table = Table(name, label)
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
                row = Row(previous_line + 1, {})
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


def _check_header(table: Table, header: list[str], problems: Problems) -> list[str]:
    """The columns to keep, in file order ('' for unknown or repeated columns)."""
    known = IMPORT_COLUMNS[table.name]
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
    known = IMPORT_COLUMNS[table]
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


def _read_json(path: Path, limit: int, problems: Problems) -> dict[str, Table]:
    label = path.name
    size = path.stat().st_size
    if size > limit:
        problems.add(
            label,
            FILE_ROW,
            WHOLE_ROW,
            f"{too_big(size, limit)} for JSON, which is read into memory whole; "
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


def _json_table(name: str, label: str, items: list, problems: Problems) -> Table:
    table = Table(name, label, from_json=True)
    known = IMPORT_COLUMNS[name]
    unknown: dict[str, list[int]] = {}
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            problems.add(label, index, WHOLE_ROW, "expected an object {column: value}", name)
            continue
        row = Row(index, {})
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
