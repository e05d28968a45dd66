"""What an import reports: its problems (collected while reading and checking, printed as
`file:row:column: message`) and, when it succeeds, its counts per table."""

from collections.abc import Iterable
from dataclasses import dataclass, field

from mitigations.dataset import COLUMNS, TABLES

FILE_ROW = 0  # row number of a problem with a file as a whole
WHOLE_ROW = "-"  # column of a problem with a row (or file) as a whole


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


@dataclass(frozen=True)
class Rename:
    """A page that gets a new code (its `previous_codes` named the old one)."""

    old: str
    new: str
    name: str  # the page's name after the import

    def __str__(self):
        return f"{self.old} -> {self.new} ({self.name})"


@dataclass
class TableCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return self.created + self.updated


@dataclass
class PageChange:
    """What an import does to one mitigation page: created, or updated with each changed
    field as (field, old, new) in text (figures as "figure KEY: field")."""

    code: str
    name: str
    pk: int | None
    kind: str  # "created" or "updated"
    fields: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class ImportReport:
    source: str
    dry_run: bool
    tables: list[str]  # the tables the dataset contained, in load order
    counts: dict[str, TableCounts] = field(
        default_factory=lambda: {table: TableCounts() for table in TABLES}
    )
    renames: list[Rename] = field(default_factory=list)  # in file order
    # Pages created or changed (their fields or figures), in file order; unchanged ones are
    # only counted.
    pages: list[PageChange] = field(default_factory=list)
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

    def rename_lines(self) -> list[str]:
        """'Rename: A1426 -> A1429 (Unlearning)', one line a renamed page."""
        return [f"Rename: {rename}" for rename in self.renames]

    def __str__(self):
        head = "Dry run (nothing written)" if self.dry_run else "Imported"
        return "\n".join([f"{head}: {self.source}", *self.lines(), *self.rename_lines()])


# --- Problems collector --------------------------------------------------------------------


@dataclass
class Row:
    line: int  # CSV line where the record starts, or 1-based JSON index
    values: dict[str, str]  # column -> raw text, only for columns the row has
    record: int | None = None  # spreadsheet row, when it differs from `line`
    unreadable: set[str] = field(default_factory=set)  # columns already reported as unusable


@dataclass
class Table:
    name: str
    label: str  # how problems name the file
    rows: list[Row] = field(default_factory=list)
    missing_columns: set[str] = field(default_factory=set)  # reported once, at the header
    from_json: bool = False  # JSON strings may hold lone surrogates; decoded UTF-8 cannot


class Problems:
    def __init__(self):
        self._items: list[tuple[int, int, int, Problem]] = []

    def __bool__(self):
        return bool(self._items)

    def add(self, file: str, row: int, column: str, message: str, table: str | None = None):
        order = TABLES.index(table) if table in COLUMNS else -1
        item = (order, row, len(self._items), Problem(file, row, show(column), message))
        self._items.append(item)

    def at(self, table: Table, row: Row, column: str, message: str):
        if row.record is not None:
            message = f"{message} (spreadsheet row {row.record})"
        self.add(table.label, row.line, column, message, table.name)

    def sorted(self) -> list[Problem]:
        return [item[-1] for item in sorted(self._items, key=lambda i: i[:3])]


def show(text: str, limit: int = 60) -> str:
    """A name from the file made safe to print on one line."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(text: str) -> str:
    return f"'{show(text)}'"
