"""The importer: the demo dataset, idempotence, upserts, all-or-nothing, every problem reported."""

import contextlib
import csv
import io
import json
import re
import shutil
import tracemalloc
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mitigations import dataset
from mitigations.importer import (
    DatasetError,
    ImportReport,
    Problem,
    TqdmProgress,
    dataset_from_upload,
    import_dataset,
)
from mitigations.models import (
    Actor,
    Figure,
    LifecycleStage,
    Mitigation,
    RmfFunction,
    SourceDocument,
    TaxonomyCategory,
)
from portal.lib import page_cache
from tests.factories import CategoryFactory, MitigationFactory

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo"
MODELS = {
    "taxonomy": TaxonomyCategory,
    "lifecycle_stages": LifecycleStage,
    "actors": Actor,
    "rmf_functions": RmfFunction,
    "sources": SourceDocument,
    "mitigations": Mitigation,
    "figures": Figure,
}
PROBLEM_LINE = re.compile(r"^[^:\n]+:\d+:[^:\n]+: .+$")


# --- helpers ---------------------------------------------------------------------------------


def demo_rows(table):
    with (DEMO / f"{table}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def copy_demo(tmp_path) -> Path:
    target = tmp_path / "demo"
    target.mkdir()
    for path in DEMO.glob("*.csv"):
        shutil.copy(path, target / path.name)
    return target


def write_table(folder: Path, table: str, rows: list[dict], columns=None):
    columns = columns or list(rows[0]) if rows else columns
    with (folder / f"{table}.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])


def edit_table(folder: Path, table: str, change):
    """Rewrite a table, applying change(rows) -> rows."""
    with (folder / f"{table}.csv").open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        columns, rows = reader.fieldnames, list(reader)
    rows = change(rows)
    write_table(folder, table, rows, columns)


def minimal_dataset(folder: Path, mitigations=None, figures=None):
    """A small valid dataset: two categories, one facet each, one source, two mitigations."""
    folder.mkdir(exist_ok=True)
    write_table(folder, "taxonomy", [
        {"code": "1", "name": "AI System", "description": "Technical measures."},
        {"code": "1.1", "name": "Model", "description": "Model measures."},
    ])  # fmt: skip
    write_table(folder, "lifecycle_stages", [{"name": "Build", "description": "", "position": "1"}])
    write_table(folder, "actors", [{"name": "Developer", "description": "", "position": "1"}])
    write_table(folder, "rmf_functions", [{"name": "Manage", "description": "", "position": "1"}])
    write_table(folder, "sources", [
        {"id": "doe2024", "title": "A study", "authors": "Doe, Jane; Roe, Richard",
         "year": "2024", "url": "https://example.org/a", "doi": "", "abstract": ""},
    ])  # fmt: skip
    write_table(folder, "mitigations", mitigations or [
        {"id": "X1", "name": "First measure", "definition": "Does one thing.",
         "taxonomy_code": "1.1", "lifecycle_primary": "Build", "actor_primary": "Developer",
         "rmf_primary": "Manage", "source_ids": "doe2024", "related_ids": "X2"},
        {"id": "X2", "name": "Second measure", "definition": "Does another thing.",
         "taxonomy_code": "1.1", "related_ids": "X1", "status": "published"},
    ], columns=dataset.COLUMNS["mitigations"])  # fmt: skip
    write_table(folder, "figures", figures or [
        {"mitigation_id": "X1", "key": "agree", "label": "Experts agreeing", "value": "62.5",
         "unit": "%", "risk_area": "CBRN", "sample_size": "76", "preliminary": "false"},
    ], columns=dataset.COLUMNS["figures"])  # fmt: skip
    return folder


def problems(path, **kwargs) -> list[str]:
    with pytest.raises(DatasetError) as info:
        import_dataset(path, **kwargs)
    lines = [str(p) for p in info.value.problems]
    assert all(PROBLEM_LINE.match(line) for line in lines), lines
    return lines


def table_counts():
    return {table: model.objects.count() for table, model in MODELS.items()}


def history_counts():
    return (Mitigation.history.count(), Figure.history.count())


# --- the demo dataset ------------------------------------------------------------------------


@pytest.mark.django_db
def test_demo_dataset_imports_with_expected_counts():
    report = import_dataset(DEMO)

    assert isinstance(report, ImportReport)
    assert not report.dry_run
    for table, model in MODELS.items():
        expected = len(demo_rows(table))
        assert report.counts[table].created == expected, table
        assert report.counts[table].updated == report.counts[table].unchanged == 0
        assert model.objects.count() == expected, table
    assert Mitigation.history.count() == Mitigation.objects.count()
    assert Figure.history.count() == Figure.objects.count()


@pytest.mark.django_db
def test_demo_values_land_where_the_format_says():
    import_dataset(DEMO)
    row = next(r for r in demo_rows("mitigations") if r["related_ids"] and r["source_ids"])
    m = Mitigation.objects.get(code=row["id"])
    assert m.name == row["name"]
    assert m.definition == row["definition"]
    assert m.slug == Mitigation.make_slug(row["name"], row["id"])
    assert m.category.code == row["taxonomy_code"]
    assert m.status == (row["status"] or "polishing")
    assert m.classified_by == (row["classified_by"] or "classifier")
    assert {s.key for s in m.sources.all()} == {
        s.strip() for s in row["source_ids"].split(";") if s.strip()
    }
    assert {r.code for r in m.related.all()} == {
        s.strip() for s in row["related_ids"].split(";") if s.strip()
    }
    if row["lifecycle_primary"]:
        assert m.lifecycle_primary.name == row["lifecycle_primary"]
    # Derived fields that save() would compute are computed by the bulk import too.
    category = m.category
    assert category.level == 3
    assert category.parent.code == TaxonomyCategory.parent_code(category.code)
    assert category.sort_key == ".".join(p.zfill(4) for p in category.code.split("."))
    stage = LifecycleStage.objects.get(name="Build and Use Model")
    assert stage.slug == "build-and-use-model"
    source = SourceDocument.objects.get(key="uuk2024")
    assert source.authors[0] == "Uuk, Risto" and source.year == 2024
    # Figures keep the order of the file.
    first = demo_rows("figures")[0]
    keys = [f["key"] for f in demo_rows("figures") if f["mitigation_id"] == first["mitigation_id"]]
    saved = Figure.objects.filter(mitigation__code=first["mitigation_id"]).order_by("position")
    assert [f.key for f in saved] == keys
    figure = saved[0]
    assert figure.value == Decimal(first["value"])
    assert figure.preliminary is (first["preliminary"] == "true")


@pytest.mark.django_db
def test_history_rows_are_those_simple_history_would_write(editor):
    import_dataset(DEMO, user=editor)
    m = Mitigation.objects.get(code=demo_rows("mitigations")[0]["id"])
    record = m.history.get()
    assert record.history_type == "+"
    assert record.history_user == editor
    assert record.history_change_reason == "Import of demo"
    for field in Mitigation.history.model.tracked_fields:
        assert getattr(record, field.attname) == getattr(m, field.attname), field.name
    figure = Figure.objects.filter(mitigation=m).first()
    figure_record = figure.history.get()
    for field in Figure.history.model.tracked_fields:
        assert getattr(figure_record, field.attname) == getattr(figure, field.attname)
    assert m.version == record.history_id


# --- idempotence and updates -----------------------------------------------------------------


@pytest.mark.django_db
def test_second_run_changes_nothing_and_adds_no_history():
    import_dataset(DEMO)
    before, history = table_counts(), history_counts()

    report = import_dataset(DEMO)

    assert report.changed == 0
    for table in MODELS:
        assert report.counts[table].created == report.counts[table].updated == 0
        assert report.counts[table].unchanged == len(demo_rows(table))
    assert table_counts() == before
    assert history_counts() == history


@pytest.mark.django_db
def test_one_changed_cell_updates_one_row_and_keeps_the_slug(tmp_path):
    folder = copy_demo(tmp_path)
    import_dataset(folder)
    target = demo_rows("mitigations")[3]["id"]
    slug = Mitigation.objects.get(code=target).slug
    history = history_counts()

    def rename(rows):
        for row in rows:
            if row["id"] == target:
                row["name"] = "A renamed measure"
        return rows

    edit_table(folder, "mitigations", rename)
    report = import_dataset(folder)

    assert report.counts["mitigations"].updated == 1
    assert report.counts["mitigations"].unchanged == len(demo_rows("mitigations")) - 1
    assert report.changed == 1
    m = Mitigation.objects.get(code=target)
    assert m.name == "A renamed measure"
    assert m.slug == slug  # URLs stay stable
    assert history_counts() == (history[0] + 1, history[1])
    assert m.history.first().history_type == "~"


@pytest.mark.django_db
def test_a_changed_link_or_figure_is_an_update(tmp_path):
    folder = copy_demo(tmp_path)
    import_dataset(folder)
    rows = demo_rows("mitigations")
    first, other = rows[0]["id"], rows[-1]["id"]
    figure_row = demo_rows("figures")[0]

    def relink(rows):
        rows[0]["related_ids"] = other
        rows[0]["lifecycle_other"] = ""
        rows[0]["taxonomy_code"] = "99"
        rows[0]["actor_primary"] = "Government"
        return rows

    def revalue(rows):
        rows[0]["value"] = "12.25"
        return rows

    edit_table(folder, "mitigations", relink)
    edit_table(folder, "figures", revalue)
    history = history_counts()
    report = import_dataset(folder)

    assert report.counts["mitigations"].updated == 1
    assert report.counts["figures"].updated == 1
    m = Mitigation.objects.get(code=first)
    assert [r.code for r in m.related.all()] == [other]
    assert not m.lifecycle_other.exists()
    assert m.category.code == "99"
    assert m.actor_primary.name == "Government"
    assert m.history.first().category_id == m.category_id
    figure = Figure.objects.get(mitigation__code=figure_row["mitigation_id"], key=figure_row["key"])
    assert figure.value == Decimal("12.25")
    assert history_counts() == (history[0] + 1, history[1] + 1)
    assert import_dataset(folder).changed == 0


@pytest.mark.django_db
def test_upsert_leaves_other_rows_and_absent_columns_alone(tmp_path):
    import_dataset(DEMO)
    total = Mitigation.objects.count()
    row = demo_rows("mitigations")[0]
    draft = next(r for r in demo_rows("mitigations") if r["status"] == "draft")
    folder = tmp_path / "partial"
    folder.mkdir()
    # Only three columns: the status, facets, links … of existing rows are left as they are.
    write_table(folder, "mitigations", [
        {"id": draft["id"], "name": draft["name"], "definition": "A new definition.",
         "taxonomy_code": draft["taxonomy_code"]},
    ])  # fmt: skip

    report = import_dataset(folder)

    assert report.counts["mitigations"].updated == 1
    assert Mitigation.objects.count() == total  # nothing deleted
    m = Mitigation.objects.get(code=draft["id"])
    assert m.definition == "A new definition."
    assert m.status == "draft"
    assert Mitigation.objects.get(code=row["id"]).definition == row["definition"]


@pytest.mark.django_db
def test_empty_cell_clears_a_value(tmp_path):
    folder = minimal_dataset(tmp_path / "d")
    import_dataset(folder)

    def clear(rows):
        rows[0]["lifecycle_primary"] = ""
        rows[0]["source_ids"] = ""
        return rows

    edit_table(folder, "mitigations", clear)
    import_dataset(folder)
    m = Mitigation.objects.get(code="X1")
    assert m.lifecycle_primary is None
    assert not m.sources.exists()


@pytest.mark.django_db
def test_related_ids_may_point_forward_and_into_the_database(tmp_path):
    existing = MitigationFactory(code="OLD1")
    folder = minimal_dataset(tmp_path / "d", mitigations=[
        {"id": "F1", "name": "Points forward", "definition": "d", "taxonomy_code": "1",
         "related_ids": "F2; OLD1"},
        {"id": "F2", "name": "Defined later", "definition": "d", "taxonomy_code": "1"},
    ], figures=[{"mitigation_id": "OLD1", "key": "k", "label": "l", "value": "1"}])  # fmt: skip

    import_dataset(folder)

    assert set(Mitigation.objects.get(code="F1").related.values_list("code", flat=True)) == {
        "F2", "OLD1",
    }  # fmt: skip
    assert existing.figures.get().key == "k"


@pytest.mark.django_db
def test_slug_collision_gets_a_unique_slug(tmp_path):
    MitigationFactory(code="Q9", slug=Mitigation.make_slug("Taken name", "X1"))
    folder = minimal_dataset(tmp_path / "d", mitigations=[
        {"id": "X1", "name": "Taken name", "definition": "d", "taxonomy_code": "1"},
    ], figures=[{"mitigation_id": "X1", "key": "k", "label": "l", "value": "1"}])  # fmt: skip

    import_dataset(folder)

    assert Mitigation.objects.get(code="X1").slug == "taken-name-x1-2"


@pytest.mark.django_db
def test_dry_run_reports_counts_and_writes_nothing():
    report = import_dataset(DEMO, dry_run=True)

    assert report.dry_run
    assert report.counts["mitigations"].created == len(demo_rows("mitigations"))
    assert all(count == 0 for count in table_counts().values())


@pytest.mark.django_db
def test_a_real_import_invalidates_the_page_cache(django_capture_on_commit_callbacks):
    version = page_cache.data_version()
    with django_capture_on_commit_callbacks(execute=True):
        import_dataset(DEMO)
    assert page_cache.data_version() != version


# --- all or nothing, and every problem reported -----------------------------------------------


@pytest.mark.django_db
def test_one_bad_row_writes_nothing_even_to_earlier_tables(tmp_path):
    folder = copy_demo(tmp_path)

    def break_last(rows):
        rows[-1]["value"] = "sixty"
        return rows

    edit_table(folder, "figures", break_last)
    lines = problems(folder)

    line = len(demo_rows("figures")) + 1
    assert lines == [
        f"figures.csv:{line}:value: 'sixty' is not a decimal number (use a point: 62.5)"
    ]
    assert all(count == 0 for count in table_counts().values())


@pytest.mark.django_db
def test_one_bad_row_leaves_existing_data_untouched(tmp_path):
    folder = copy_demo(tmp_path)
    import_dataset(folder)
    before = list(TaxonomyCategory.objects.values_list("code", "name"))

    def rename(rows):
        rows[0]["name"] = "Renamed"
        return rows

    def break_status(rows):
        rows[-1]["status"] = "finished"
        return rows

    edit_table(folder, "taxonomy", rename)
    edit_table(folder, "mitigations", break_status)
    lines = problems(folder)

    assert len(lines) == 1 and ":status: 'finished' is not one of" in lines[0]
    assert list(TaxonomyCategory.objects.values_list("code", "name")) == before


@pytest.mark.django_db
def test_every_problem_of_a_run_is_reported_with_file_row_and_column(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    # taxonomy.csv: latin-1 bytes on line 3, a bad code, an unknown parent, a duplicate.
    (folder / "taxonomy.csv").write_bytes(
        b"code,name,description\n"
        b"1,AI System,fine\n"
        b"1.1,Mod\xe8le,latin-1 here\n"
        b"1.x,Bad code,\n"
        b"7.1,Orphan,\n"
        b"1,AI System again,\n"
    )
    # actors.csv: a typo in a column name, so the required `name` column is missing.
    (folder / "actors.csv").write_text("nmae,description\nDeveloper,x\n", encoding="utf-8")
    (folder / "mitigations.csv").write_text(
        "id,name,definition,taxonomy_code,related_ids,status,lifecycle_primary,colour\n"
        "A1,One,Does it.,1.1,A2,published,,red\n"
        "A2,Two,Has a \x00 NUL,1.1,A9,polishing,,\n"
        "A1,Again,Duplicate id.,1,,draft,,\n"
        "A3,Three,Unknown stage.,1,,,Build,\n",
        encoding="utf-8",
    )
    (folder / "figures.csv").write_text(
        "mitigation_id,key,label,value,embargo_until,preliminary,sample_size\n"
        "A1,agree,Agree,62.5,2027-02-30,maybe,76\n"
        "A1,feasible,Feasible,1.23456,,,-4\n",
        encoding="utf-8",
    )

    lines = problems(folder)

    expected = [
        "taxonomy.csv:3:-: not valid UTF-8: byte 0xE8 at byte offset 46 of the file; "
        'save the file as UTF-8 ("CSV UTF-8")',
        "taxonomy.csv:4:code: '1.x' is not a taxonomy code like 1, 1.2 or 1.2.3",
        "taxonomy.csv:5:code: the parent category '7' does not exist (add it to taxonomy.csv)",
        "taxonomy.csv:6:code: '1' appears more than once (first on row 2)",
        "actors.csv:1:nmae: unknown column; expected: name, description, position",
        "actors.csv:1:name: required column is missing",
        "mitigations.csv:1:colour: unknown column; expected: id, name, definition, "
        "additional_information, reasoning, classified_by, taxonomy_code, lifecycle_primary, "
        "lifecycle_other, actor_primary, actor_other, rmf_primary, rmf_other, source_ids, "
        "related_ids, status, previous_codes",
        "mitigations.csv:3:definition: the value contains a NUL byte",
        "mitigations.csv:3:related_ids: unknown mitigation id 'A9'; it must be in "
        "mitigations.csv or already in the database",
        "mitigations.csv:4:id: 'A1' appears more than once (first on row 2)",
        "mitigations.csv:5:lifecycle_primary: unknown lifecycle stage 'Build'; it must be in "
        "lifecycle_stages.csv or already in the database",
        "figures.csv:2:embargo_until: '2027-02-30' is not a date in the form YYYY-MM-DD",
        "figures.csv:2:preliminary: 'maybe' is not true or false",
        "figures.csv:3:value: '1.23456' has more than 4 decimal places",
        "figures.csv:3:sample_size: '-4' is not a whole number",
    ]
    assert lines == expected
    assert all(count == 0 for count in table_counts().values())


@pytest.mark.django_db
def test_file_level_problems(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "notes.csv").write_text("a\n1\n", encoding="utf-8")
    (folder / "Figures.csv").write_text("a\n1\n", encoding="utf-8")
    (folder / "README.md").write_text("not a table", encoding="utf-8")  # ignored
    (folder / "taxonomy.csv").write_bytes("code,name\n1,A\n".encode("utf-16"))
    (folder / "sources.csv").write_bytes(b"")

    lines = problems(folder)

    assert lines == [
        "Figures.csv:0:-: unknown table file (file names are lower-case: figures.csv); a "
        "dataset folder holds only taxonomy.csv, lifecycle_stages.csv, actors.csv, "
        "rmf_functions.csv, sources.csv, mitigations.csv, figures.csv",
        "notes.csv:0:-: unknown table file; a dataset folder holds only taxonomy.csv, "
        "lifecycle_stages.csv, actors.csv, rmf_functions.csv, sources.csv, mitigations.csv, "
        "figures.csv",
        'taxonomy.csv:0:-: the file is UTF-16 encoded; save it as UTF-8 ("CSV UTF-8")',
        "sources.csv:1:-: the file has no header row",
        "mitigations.csv:0:-: mitigations.csv is required but is not in the folder",
    ]
    assert problems(tmp_path / "nowhere")[0].endswith(":0:-: no such file or folder")


@pytest.mark.django_db
def test_bom_blank_lines_and_spreadsheet_rows(tmp_path):
    folder = minimal_dataset(tmp_path / "d")
    text = (folder / "mitigations.csv").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    # A BOM, a blank line and a multi-line cell before a bad row.
    body = lines[0] + lines[1] + "\n" + 'Y1,"Two\nlines",d,,,,9.9,,,,,,,,,\n' + lines[2]
    (folder / "mitigations.csv").write_bytes(b"\xef\xbb\xbf" + body.encode("utf-8"))

    # Line 4 is also spreadsheet row 4 (the blank line is an empty row): no suffix.
    assert problems(folder) == [
        "mitigations.csv:4:taxonomy_code: unknown taxonomy code '9.9'; it must be in "
        "taxonomy.csv or already in the database",
    ]
    body = lines[0] + 'Y1,"Two\nlines",d,,,,9.9,,,,,,,,,\n' + 'Y2,"x",d,,,,9.8,,,,,,,,,\n'
    (folder / "mitigations.csv").write_text(body, encoding="utf-8")
    assert problems(folder)[1] == (
        "mitigations.csv:4:taxonomy_code: unknown taxonomy code '9.8'; it must be in "
        "taxonomy.csv or already in the database (spreadsheet row 3)"
    )


@pytest.mark.django_db
def test_cell_and_row_limits(tmp_path):
    folder = minimal_dataset(tmp_path / "d", mitigations=[
        {"id": "X1", "name": "n" * 301, "definition": "d" * 100_001, "taxonomy_code": "1",
         "additional_information": "fine"},
        {"id": "bad id", "name": "n", "definition": "d", "taxonomy_code": "1"},
    ], figures=[
        {"mitigation_id": "X1", "key": "k", "label": "l", "value": "12345678901"},
    ])  # fmt: skip
    with (folder / "mitigations.csv").open("a", encoding="utf-8") as f:
        f.write("X3,too,many,cells,,,,,,,,,,,,,,,,,\n")

    lines = problems(folder)

    assert "mitigations.csv:2:name: the value is 301 characters long; at most 300 allowed" in lines
    assert (
        "mitigations.csv:2:definition: the value is 100001 characters long; a cell holds at "
        "most 100000" in lines
    )
    assert (
        "mitigations.csv:3:id: 'bad id' is not a valid id: use only letters, digits, '-' and '_'"
        in lines
    )
    assert "mitigations.csv:4:-: the row has 21 cells but the header has 16" in lines
    assert (
        "figures.csv:2:value: '12345678901' is too large (at most 10 digits before the point)"
        in lines
    )


@pytest.mark.django_db
def test_csv_field_limit_is_reported_not_raised(tmp_path):
    folder = minimal_dataset(tmp_path / "d")
    with (folder / "mitigations.csv").open("a", encoding="utf-8") as f:
        f.write(f'Z1,Huge,"{"x" * 200_000}",1\n')
    lines = problems(folder)
    assert lines == [
        "mitigations.csv:4:-: the CSV cannot be read past this line: field larger than field "
        "limit (131072)"
    ]


# --- size limits and memory ------------------------------------------------------------------


@pytest.mark.django_db
def test_files_over_the_limit_are_refused_without_reading(tmp_path):
    folder = minimal_dataset(tmp_path / "d")
    with (folder / "figures.csv").open("r+b") as f:
        f.truncate(101 * 1024 * 1024)  # sparse: instant, nothing is read
    assert problems(folder) == [
        "figures.csv:0:-: the file is 101.0 MB, larger than the limit of 100 MB"
    ]
    assert problems(folder, max_bytes=1000)[0].startswith("figures.csv:0:-: the file is 101.0 MB")
    assert table_counts()["mitigations"] == 0


def _big_mitigations(folder: Path, rows: int, cell: int, bad_last=False):
    filler = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * (cell // 50 + 1))[:cell]
    with (folder / "mitigations.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["id", "name", "definition", "additional_information", "taxonomy_code"])
        for i in range(rows):
            code = "9.9" if bad_last and i == rows - 1 else "1.1"
            writer.writerow([f"B{i}", f"Big {i}", "Does it.", filler, code])


@pytest.mark.django_db
def test_a_50_mb_csv_is_streamed_and_a_problem_in_it_writes_nothing(tmp_path):
    """Design choice: CSV is streamed, so a 50 MB file imports, holding its text once."""
    folder = minimal_dataset(tmp_path / "d")
    (folder / "figures.csv").unlink()
    _big_mitigations(folder, rows=1050, cell=50_000)
    size = (folder / "mitigations.csv").stat().st_size
    assert size > 50 * 1024 * 1024

    tracemalloc.start()
    try:
        report = import_dataset(folder, dry_run=True)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.counts["mitigations"].created == 1050
    assert peak < 1.5 * size  # the text is in memory once, not twice

    _big_mitigations(folder, rows=1050, cell=50_000, bad_last=True)
    lines = problems(folder)
    assert lines == [
        "mitigations.csv:1051:taxonomy_code: unknown taxonomy code '9.9'; it must be in "
        "taxonomy.csv or already in the database"
    ]
    assert table_counts()["mitigations"] == 0


@pytest.mark.django_db
def test_a_50_mb_json_file_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "big.json"
    with path.open("wb") as f:
        f.truncate(50 * 1024 * 1024)
    assert problems(path) == [
        "big.json:0:-: the file is 50.0 MB, larger than the limit of 32 MB for JSON, which is "
        "read into memory whole; export the dataset as a folder of CSV files, which is read "
        "row by row"
    ]


# --- JSON ------------------------------------------------------------------------------------


def demo_as_json(path: Path, typed=True) -> Path:
    tables = {table: demo_rows(table) for table in MODELS}
    if typed:  # numbers, booleans and nulls where a spreadsheet would have text
        for row in tables["figures"]:
            row["value"] = float(row["value"])
            row["preliminary"] = row["preliminary"] == "true"
            row["sample_size"] = int(row["sample_size"]) if row["sample_size"] else None
            row["embargo_until"] = row["embargo_until"] or None
        for row in tables["sources"]:
            row["year"] = int(row["year"])
        for table in ("lifecycle_stages", "actors", "rmf_functions"):
            for row in tables[table]:
                row["position"] = int(row["position"]) if row["position"] else None
    path.write_text(json.dumps(tables, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.django_db
def test_json_input_is_equivalent_to_csv_input(tmp_path):
    report = import_dataset(demo_as_json(tmp_path / "demo.json"))
    for table in MODELS:
        assert report.counts[table].created == len(demo_rows(table))

    again = import_dataset(DEMO)  # the same data as CSV: nothing to change

    assert again.changed == 0


@pytest.mark.django_db
def test_json_problems_name_the_table_and_index(tmp_path):
    data = {
        "taxonomy": [{"code": "1", "name": "A"}, {"code": "1.1", "name": ["a", "list"]}],
        "mitigations": [
            {"id": "J1", "name": "n", "definition": "d", "taxonomy_code": "1", "extra": 1},
            {"id": "J2", "name": "n", "taxonomy_code": "1", "status": "\ud800"},
            "not an object",
        ],
        "figures": [{"mitigation_id": "J1", "key": "k", "label": "l", "value": float("nan")}],
        "comments": [],
    }
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    assert problems(path) == [
        "data.json:0:comments: unknown table; expected: taxonomy, lifecycle_stages, actors, "
        "rmf_functions, sources, mitigations, figures",
        "data.json[taxonomy]:2:name: expected a string, number, boolean or null",
        "data.json[mitigations]:1:extra: unknown column; expected: id, name, definition, "
        "additional_information, reasoning, classified_by, taxonomy_code, lifecycle_primary, "
        "lifecycle_other, actor_primary, actor_other, rmf_primary, rmf_other, source_ids, "
        "related_ids, status, previous_codes",
        "data.json[mitigations]:2:status: the value contains invalid Unicode (a lone surrogate)",
        "data.json[mitigations]:2:definition: a value is required (the column is missing)",
        "data.json[mitigations]:3:-: expected an object {column: value}",
        "data.json[figures]:1:value: 'nan' is not a decimal number (use a point: 62.5)",
    ]


@pytest.mark.django_db
def test_invalid_json_reports_the_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n "mitigations": [\n  {"id": "A1",}\n ]\n}\n', encoding="utf-8")
    [line] = problems(path)
    assert line.startswith("broken.json:3:-: not valid JSON: ")
    path.write_bytes(b'{"mitigations": [{"id": "A\xff"}]}')
    assert problems(path)[0].startswith("broken.json:1:-: not valid UTF-8: byte 0xFF at byte")


# --- property: nothing but DatasetError escapes ---------------------------------------------

CELL = st.text(max_size=40) | st.sampled_from(["", " ", "1", "1.1", "true", "1e3", "A1;A2"])


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mitigation=st.fixed_dictionaries(dict.fromkeys(dataset.COLUMNS["mitigations"], CELL)),
    figure=st.fixed_dictionaries(dict.fromkeys(dataset.COLUMNS["figures"], CELL)),
    taxonomy=st.fixed_dictionaries(dict.fromkeys(dataset.COLUMNS["taxonomy"], CELL)),
)
def test_arbitrary_cells_never_raise_anything_but_dataset_error(
    tmp_path_factory, mitigation, figure, taxonomy
):
    folder = tmp_path_factory.mktemp("fuzz")
    for table, row in (("mitigations", mitigation), ("figures", figure), ("taxonomy", taxonomy)):
        with (folder / f"{table}.csv").open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(list(row))
            writer.writerow(list(row.values()))
    try:
        import_dataset(folder)
    except DatasetError as exc:
        assert all(isinstance(p, Problem) for p in exc.problems)
        assert exc.problems


JSON_VALUE = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    | st.lists(st.integers(), max_size=2)
)  # fmt: skip


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(row=st.dictionaries(st.sampled_from(dataset.COLUMNS["mitigations"]), JSON_VALUE))
def test_arbitrary_json_values_never_raise_anything_but_dataset_error(tmp_path_factory, row):
    path = tmp_path_factory.mktemp("fuzzjson") / "data.json"
    path.write_text(json.dumps({"mitigations": [row]}), encoding="utf-8")
    with contextlib.suppress(DatasetError):
        import_dataset(path)


# --- progress, the command, uploads -----------------------------------------------------------


@pytest.mark.django_db
def test_progress_is_reported_for_tables_over_1000_rows(tmp_path):
    folder = minimal_dataset(tmp_path / "d", mitigations=[
        {"id": f"P{i}", "name": f"Measure {i}", "definition": "d", "taxonomy_code": "1"}
        for i in range(1001)
    ], figures=[{"mitigation_id": "P1", "key": "k", "label": "l", "value": "1"}])  # fmt: skip
    calls = []

    import_dataset(folder, progress=lambda step, done, total: calls.append((step, done, total)))

    steps = {step for step, _done, _total in calls}
    assert {"checking mitigations", "comparing mitigations", "writing mitigations"} <= steps
    assert ("checking mitigations", 1001, 1001) in calls
    assert not any("figures" in step for step in steps)  # one row: no progress


@pytest.mark.django_db
def test_tqdm_progress_bars_go_to_the_given_stream(tmp_path):
    folder = minimal_dataset(tmp_path / "d", mitigations=[
        {"id": f"P{i}", "name": f"Measure {i}", "definition": "d", "taxonomy_code": "1"}
        for i in range(1001)
    ], figures=[{"mitigation_id": "P1", "key": "k", "label": "l", "value": "1"}])  # fmt: skip
    stream = io.StringIO()

    import_dataset(folder, progress=TqdmProgress(stream))

    assert "checking mitigations" in stream.getvalue()
    assert "1001/1001" in stream.getvalue()


@pytest.mark.django_db
def test_facet_names_must_work_in_list_cells(tmp_path):
    folder = minimal_dataset(tmp_path / "d")
    write_table(folder, "actors", [
        {"name": "Developer; Deployer"}, {"name": "???"}, {"name": "Third party"},
        {"name": "third-party"},
    ])  # fmt: skip
    assert problems(folder) == [
        "actors.csv:2:name: a name cannot contain ';' (it separates the names in list cells of "
        "mitigations.csv)",
        "actors.csv:3:name: the name needs at least one letter or digit (it makes the URL slug)",
        "actors.csv:5:name: 'third-party' gives the same URL slug 'third-party' as 'Third party'; "
        "names must differ in more than case and punctuation",
        "mitigations.csv:2:actor_primary: unknown actor 'Developer'; it must be in actors.csv or "
        "already in the database",
    ]


@pytest.mark.django_db
def test_import_command_prints_counts(tmp_path):
    out = io.StringIO()
    call_command("import_mitigations", str(DEMO), "--dry-run", stdout=out)
    assert "Dry run (nothing written)" in out.getvalue()
    assert f"mitigations       {len(demo_rows('mitigations')):>7} created" in out.getvalue()
    assert Mitigation.objects.count() == 0

    call_command("import_mitigations", str(DEMO), stdout=out)
    assert Mitigation.objects.count() == len(demo_rows("mitigations"))


@pytest.mark.django_db
def test_import_command_prints_every_problem_and_fails(tmp_path):
    folder = copy_demo(tmp_path)

    def breaks(rows):
        rows[0]["taxonomy_code"] = "x"
        rows[1]["status"] = "done"
        return rows

    edit_table(folder, "mitigations", breaks)
    err = io.StringIO()
    with pytest.raises(CommandError, match="2 problems found; nothing was imported"):
        call_command("import_mitigations", str(folder), stdout=io.StringIO(), stderr=err)
    lines = err.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("mitigations.csv:") and ":taxonomy_code: 'x' is not" in lines[0]
    assert ":status: 'done' is not one of: draft, polishing, published" in lines[1]
    assert Mitigation.objects.count() == 0


class Upload(io.BytesIO):
    def __init__(self, name, data):
        super().__init__(data)
        self.name, self.size = name, len(data)

    def chunks(self):
        yield self.getvalue()


def test_zip_uploads_are_extracted_safely(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("demo/mitigations.csv", "id\n")
        archive.writestr("../../escape.csv", "x\n")
        archive.writestr("__MACOSX/._mitigations.csv", "junk")
        archive.writestr("README.md", "ignored")
        link = zipfile.ZipInfo("figures.csv")
        link.external_attr = 0o120777 << 16  # a symbolic link
        archive.writestr(link, "/etc/passwd")
    work = tmp_path / "work"
    work.mkdir()

    with pytest.raises(DatasetError) as info:
        dataset_from_upload([Upload("data.zip", buffer.getvalue())], work)

    assert [str(p) for p in info.value.problems] == [
        "data.zip/figures.csv:0:-: symbolic links are not allowed"
    ]
    assert sorted(p.name for p in work.iterdir()) == ["escape.csv", "mitigations.csv"]
    assert not (tmp_path / "escape.csv").exists()


def test_zip_size_is_counted_while_extracting(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mitigations.csv", b"0" * 5_000_000)  # compresses to a few KB
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(DatasetError) as info:
        dataset_from_upload([Upload("bomb.zip", buffer.getvalue())], work, max_bytes=1_000_000)
    assert str(info.value.problems[0]) == (
        "bomb.zip/mitigations.csv:0:-: the zip holds more than 1 MB of data"
    )


def test_upload_kinds(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    target = dataset_from_upload(
        [Upload("mitigations.csv", b"id\n"), Upload("figures.csv", b"key\n")], work
    )
    assert target == work and (work / "figures.csv").exists()
    with pytest.raises(DatasetError, match="upload one .zip of CSV files"):
        dataset_from_upload([Upload("a.json", b"{}"), Upload("b.csv", b"")], tmp_path)
    with pytest.raises(DatasetError, match="not a readable zip file"):
        dataset_from_upload([Upload("a.zip", b"not a zip")], tmp_path)


@pytest.mark.django_db
def test_category_factory_data_is_respected(tmp_path):
    """Categories created outside the importer can be parents and targets."""
    CategoryFactory(code="5.2.1")
    folder = tmp_path / "d"
    folder.mkdir()
    write_table(folder, "taxonomy", [{"code": "5.2.2", "name": "Sibling"}])
    write_table(folder, "mitigations", [
        {"id": "C1", "name": "n", "definition": "d", "taxonomy_code": "5.2.1"},
    ])  # fmt: skip
    report = import_dataset(folder)
    assert report.counts["taxonomy"].created == 1
    assert TaxonomyCategory.objects.get(code="5.2.2").parent.code == "5.2"
