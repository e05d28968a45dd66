"""Writing the import format, the export command, the byte-identical round trip, and
downloads that read one snapshot while an import commits."""

import csv
import io
import json
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from mitigations import dataset
from mitigations.importer import import_dataset
from mitigations.models import (
    Actor,
    Figure,
    LifecycleStage,
    Mitigation,
    RmfFunction,
    SourceDocument,
    TaxonomyCategory,
)
from tests.factories import (
    ActorFactory,
    FigureFactory,
    LifecycleStageFactory,
    MitigationFactory,
    SourceFactory,
    future,
)

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"

TABLES = {
    "taxonomy": [
        {"code": "1", "name": "Système", "description": 'Quotes " and, commas'},
        {"code": "1.1", "name": "Model", "description": "Two\nlines"},
    ],
    "lifecycle_stages": [{"name": "Build", "description": "", "position": 1}],
    "actors": [],
    "rmf_functions": [{"name": "Manage", "description": None, "position": "2"}],
    "sources": [
        {
            "id": "s1",
            "title": "T",
            "authors": "A, B",
            "year": "2024",
            "url": "",
            "doi": "",
            "abstract": "ünïcode — dash",
        },
    ],  # fmt: skip
    "mitigations": [
        {
            "id": "M1",
            "name": "N",
            "definition": "D",
            "additional_information": "",
            "reasoning": "",
            "classified_by": "human",
            "taxonomy_code": "1.1",
            "lifecycle_primary": "Build",
            "lifecycle_other": "",
            "actor_primary": "",
            "actor_other": "",
            "rmf_primary": "",
            "rmf_other": "",
            "source_ids": "s1",
            "related_ids": "",
            "status": "draft",
        },
    ],  # fmt: skip
    "figures": [
        {
            "mitigation_id": "M1",
            "key": "k",
            "label": "L",
            "value": "62.5",
            "unit": "%",
            "risk_area": "",
            "sample_size": "",
            "preliminary": "true",
            "embargo_until": "",
            "note": "",
        },
    ],  # fmt: skip
}


def read_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def empty_catalogue():
    Figure.objects.all().delete()
    Mitigation.objects.all().delete()
    for level in (3, 2, 1):
        TaxonomyCategory.objects.filter(level=level).delete()
    for model in (LifecycleStage, Actor, RmfFunction, SourceDocument):
        model.objects.all().delete()


def export_all():
    return dataset.export_tables(Mitigation.objects.all(), Figure.objects.all())


def test_csv_folder_is_deterministic_utf8_with_unix_newlines(tmp_path):
    written = dataset.write_csv_folder(TABLES, tmp_path / "a")
    dataset.write_csv_folder(TABLES, tmp_path / "b")

    assert [p.name for p in written] == [f"{t}.csv" for t in dataset.COLUMNS]
    assert read_bytes(tmp_path / "a") == read_bytes(tmp_path / "b")
    taxonomy = (tmp_path / "a" / "taxonomy.csv").read_bytes()
    assert not taxonomy.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" not in taxonomy
    assert taxonomy.decode("utf-8") == (
        'code,name,description\n1,Système,"Quotes "" and, commas"\n1.1,Model,"Two\nlines"\n'
    )
    assert (tmp_path / "a" / "actors.csv").read_text() == "name,description,position\n"
    rmf = (tmp_path / "a" / "rmf_functions.csv").read_text()
    assert rmf == "name,description,position\nManage,,2\n"  # None -> empty cell


def test_json_is_deterministic_sorted_and_readable(tmp_path):
    shuffled = {table: TABLES[table] for table in reversed(list(TABLES))}
    dataset.write_json(shuffled, tmp_path / "a.json")
    dataset.write_json(TABLES, tmp_path / "b.json")

    text = (tmp_path / "a.json").read_text(encoding="utf-8")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert text.endswith("]\n}\n")
    assert "Système" in text and "\\u" not in text  # ensure_ascii=False
    assert text.startswith('{\n "taxonomy": [\n  {\n   "code": "1",')  # indent=1
    data = json.loads(text)
    assert list(data) == list(dataset.COLUMNS)
    assert list(data["figures"][0]) == dataset.COLUMNS["figures"]
    assert data["lifecycle_stages"][0]["position"] == "1"  # every cell is a string
    assert data["rmf_functions"][0]["description"] == ""


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_import_export_round_trip_is_byte_identical(tmp_path, fmt):
    import_dataset(DEMO)
    first, second = (
        (tmp_path / "first.json", tmp_path / "second.json")
        if fmt == "json"
        else (tmp_path / "first", tmp_path / "second")
    )
    call_command("export_mitigations", str(first), stdout=io.StringIO())
    empty_catalogue()
    assert Mitigation.objects.count() == 0

    import_dataset(first)
    call_command("export_mitigations", str(second), stdout=io.StringIO())

    if fmt == "json":
        assert first.read_bytes() == second.read_bytes()
    else:
        assert read_bytes(first) == read_bytes(second)
        assert list(read_bytes(first)) == sorted(f"{t}.csv" for t in dataset.COLUMNS)


@pytest.mark.django_db
def test_round_trip_of_awkward_values(tmp_path):
    """Data made outside the importer survives export -> import -> export. (Like Django's
    forms, the importer strips leading and trailing whitespace; inside a value it is kept.)"""
    stage = LifecycleStageFactory(name="Build, then use", description='He said "no"')
    ActorFactory(name="Ünïcode actor")
    source = SourceFactory(key="s-1", authors=["Doe, Jane", "Ödön, Ö"], abstract="Line\nbreak")
    m = MitigationFactory(
        code="R1", name="=SUM(1) looks like a formula", definition="Tab\there, emoji 🙂",
        additional_information="- a\r\n- b", lifecycle_primary=stage, status="draft",
    )  # fmt: skip
    m.sources.add(source)
    m.related.add(MitigationFactory(code="R2"))
    FigureFactory(mitigation=m, key="a", value=Decimal("0.0001"), preliminary=True)
    FigureFactory(mitigation=m, key="b", value=Decimal("-12.5"), embargo_until=future())
    FigureFactory(mitigation=m, key="c", value=Decimal("1000000"), sample_size=None)
    first = tmp_path / "first"
    dataset.write_csv_folder(export_all(), first)
    empty_catalogue()

    report = import_dataset(first)
    dataset.write_csv_folder(export_all(), tmp_path / "second")

    assert report.counts["figures"].created == 3
    assert read_bytes(first) == read_bytes(tmp_path / "second")
    assert Figure.objects.get(key="a").value == Decimal("0.0001")


@pytest.mark.django_db
def test_export_command_includes_drafts_and_restricted_figures(tmp_path):
    draft = MitigationFactory(code="D1", status=Mitigation.Status.DRAFT)
    FigureFactory(mitigation=draft, key="secret", preliminary=True)
    FigureFactory(mitigation=MitigationFactory(code="P1"), key="embargoed", embargo_until=future())
    out = io.StringIO()

    call_command("export_mitigations", str(tmp_path / "all.json"), stdout=out)

    data = json.loads((tmp_path / "all.json").read_text(encoding="utf-8"))
    assert {m["id"] for m in data["mitigations"]} == {"D1", "P1"}
    assert {f["key"] for f in data["figures"]} == {"secret", "embargoed"}
    assert "2 mitigations, 2 figures" in out.getvalue()


@pytest.mark.django_db
def test_export_command_csv_folder_and_format_checks(tmp_path):
    MitigationFactory(code="C1")
    call_command("export_mitigations", str(tmp_path / "out"), stdout=io.StringIO())
    with (tmp_path / "out" / "mitigations.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == ["C1"]

    with pytest.raises(CommandError, match="is a folder"):
        call_command("export_mitigations", str(tmp_path / "out"), "--format", "json")
    with pytest.raises(CommandError, match="is not a folder"):
        call_command("export_mitigations", str(tmp_path / "x.json"), "--format", "csv")


# --- One snapshot per download ---------------------------------------------------------------


def b_version_of(source: Path, target: Path) -> None:
    """Copy a CSV dataset with every definition and every figure label changed to
    'B-version …': two tables that a download reads with different queries."""
    import shutil

    shutil.copytree(source, target)
    for table, column in (("mitigations", "definition"), ("figures", "label")):
        path = target / f"{table}.csv"
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            row[column] = f"B-version {row[column]}"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)


def exported_texts(fmt: str, body: str) -> tuple[list[str], list[str]]:
    """(definitions, figure labels) of a download."""
    if fmt == "json":
        data = json.loads(body)
        return [m["definition"] for m in data["mitigations"]], [f["label"] for f in data["figures"]]
    rows = list(csv.DictReader(io.StringIO(body)))
    return [r["definition"] for r in rows], [r["figure_label"] for r in rows if r["figure_label"]]


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_an_import_committed_while_a_download_is_built_does_not_show_up_in_it(tmp_path, fmt):
    """The import commits (in another connection) right after the download's first query on
    the mitigations: the download is still entirely the catalogue of before the import."""
    import_dataset(DEMO)
    b_version_of(DEMO, tmp_path / "b")
    imported = {}

    def import_b():
        try:
            imported["report"] = import_dataset(tmp_path / "b")
        finally:
            connection.close()  # the thread's own connection

    def import_after_first_mitigations_query(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        first = not imported and sql.lstrip().upper().startswith("SELECT")
        if first and '"mitigations_mitigation"' in sql:
            imported["during"] = sql
            thread = threading.Thread(target=import_b)
            thread.start()
            thread.join(timeout=120)
            assert not thread.is_alive(), "the import waited for the download"
        return result

    with connection.execute_wrapper(import_after_first_mitigations_query):
        during = Client().get(f"/mitigations/export.{fmt}")
    assert imported["report"].changed  # the import did commit in the middle
    after = Client().get(f"/mitigations/export.{fmt}")

    assert during.status_code == after.status_code == 200
    definitions, labels = exported_texts(fmt, during.content.decode())
    assert definitions and labels
    assert "B-version" not in during.content.decode()  # nothing of the import, not half
    definitions, labels = exported_texts(fmt, after.content.decode())
    assert all(d.startswith("B-version ") for d in definitions + labels)
    # The transaction ended with the view: nothing is held open while the client reads.
    assert connection.get_autocommit() and not connection.in_atomic_block


@pytest.mark.django_db(transaction=True)
def test_a_download_reads_in_one_transaction_and_ends_it(monkeypatch):
    """Every query of a download runs inside one read transaction (SQLite: a deferred one,
    so that a download never takes the write lock), and it is over when the view returns."""
    from mitigations import exports

    FigureFactory(mitigation=MitigationFactory(code="S1"), key="k")
    seen = []

    def record(execute, sql, params, many, context):
        seen.append((sql.split()[0].upper(), connection.in_atomic_block))
        return execute(sql, params, many, context)

    snapshots = []
    original = exports.read_snapshot

    def counting_snapshot(*args, **kwargs):
        snapshots.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(exports, "read_snapshot", counting_snapshot)
    with connection.execute_wrapper(record):
        response = Client().get("/mitigations/export.json")
    assert response.status_code == 200
    assert snapshots == [1]
    statements = [s for s, _ in seen]
    if connection.vendor == "sqlite":
        assert statements[0] == "BEGIN" and statements[-1] == "ROLLBACK", statements
        assert "SELECT" in statements[1:-1]
    else:
        assert statements[0] == "SET", statements  # SET TRANSACTION ..., then only SELECTs
        assert all(in_atomic for _, in_atomic in seen)
    assert set(statements[1:-1]) <= {"SELECT"}
    assert connection.get_autocommit() and not connection.in_atomic_block
