"""Cell conversion: each column's text checked and turned into the model's value (a bad
cell becomes a problem at its file:row:column), giving one `Record` per row."""

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, DecimalException

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from mitigations.dataset import FACET_TABLES, LIST_SEPARATOR, REQUIRED
from mitigations.importer.problems import Problems, Row, Table, quote
from mitigations.models import (
    MITIGATION_CODE_RULE,
    TAXONOMY_CODE,
    Figure,
    Mitigation,
    SourceDocument,
    TaxonomyCategory,
    validate_mitigation_code,
)

MAX_CELL_CHARS = 100_000
KEY = re.compile(r"[A-Za-z0-9_-]+")
INTEGER = re.compile(r"[0-9]+")
DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,6})?")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
SURROGATE = re.compile("[\ud800-\udfff]")


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
            raise _Bad(f"{quote(value)} is not a valid id: use only letters, digits, '-' and '_'")
        if len(value) > max_length:
            raise _Bad(f"the id is {len(value)} characters long; at most {max_length} allowed")
        return value

    return convert


def _mitigation_code(max_length: int):
    """A mitigation's id: the model's own validator decides (the admin uses it too)."""

    def convert(value: str) -> str:
        try:
            validate_mitigation_code(value)
        except ValidationError as exc:
            raise _Bad(f"{quote(value)} is not a valid id: {MITIGATION_CODE_RULE}") from exc
        if len(value) > max_length:
            raise _Bad(f"the id is {len(value)} characters long; at most {max_length} allowed")
        return value

    return convert


def _taxonomy_code(value: str) -> str:
    if not TAXONOMY_CODE.fullmatch(value) or len(value) > 20:
        raise _Bad(f"{quote(value)} is not a taxonomy code like 1, 1.2 or 1.2.3")
    return value


def _integer(minimum: int, maximum: int):
    def convert(value: str) -> int:
        if not INTEGER.fullmatch(value) or len(value) > 12:
            raise _Bad(f"{quote(value)} is not a whole number")
        number = int(value)
        if not minimum <= number <= maximum:
            raise _Bad(f"{number} is out of range ({minimum} to {maximum})")
        return number

    return convert


def _decimal(max_digits: int, decimal_places: int):
    whole_digits = max_digits - decimal_places

    def convert(value: str) -> Decimal:
        if not DECIMAL.fullmatch(value):
            raise _Bad(f"{quote(value)} is not a decimal number (use a point: 62.5)")
        try:
            number = Decimal(value)
        except DecimalException as exc:  # pragma: no cover - the pattern rules this out
            raise _Bad(f"{quote(value)} is not a decimal number") from exc
        _sign, digits, exponent = number.as_tuple()
        digits = list(digits)
        while len(digits) > 1 and digits[-1] == 0 and exponent < 0:
            digits.pop()
            exponent += 1
        if -exponent > decimal_places:
            raise _Bad(f"{quote(value)} has more than {decimal_places} decimal places")
        if len(digits) + exponent > whole_digits:
            raise _Bad(
                f"{quote(value)} is too large (at most {whole_digits} digits before the point)"
            )
        return number

    return convert


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise _Bad(f"{quote(value)} is not true or false")
    return lowered == "true"


def _date(value: str) -> datetime.date:
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise _Bad(f"{quote(value)} is not a date in the form YYYY-MM-DD") from None


def _choice(choices):
    allowed = [str(value) for value in choices.values]

    def convert(value: str) -> str:
        if value not in allowed:
            raise _Bad(f"{quote(value)} is not one of: {', '.join(allowed)}")
        return value

    return convert


def _url(max_length: int):
    validate = URLValidator(schemes=["http", "https"])

    def convert(value: str) -> str:
        try:
            validate(value)
        except (ValidationError, ValueError, UnicodeError):
            raise _Bad(f"{quote(value)} is not an http(s) URL") from None
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


def column_converters() -> dict[str, dict[str, _Column]]:
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
            "id": _Column(_mitigation_code(code_len)),
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
            "related_ids": _Column(_list(_mitigation_code(code_len)), []),
            "status": _Column(_choice(m.Status), m.Status.POLISHING.value),
            "previous_codes": _Column(_list(_mitigation_code(code_len)), []),
        },
        "figures": {
            "mitigation_id": _Column(_mitigation_code(code_len)),
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
class Record:
    row: Row
    values: dict[str, object]  # converted values of the columns the row has
    ok: bool = True


def convert_table(table: Table, columns: dict[str, _Column], problems: Problems, tick):
    records = []
    required = REQUIRED[table.name]
    for done, row in enumerate(table.rows, start=1):
        record = Record(row, {})
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
