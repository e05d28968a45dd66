"""Writing the import format, the export command, and the byte-identical round trip."""

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

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
