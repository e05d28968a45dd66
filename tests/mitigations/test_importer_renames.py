"""Renames through `previous_codes`: chains and swaps in one import, the page (feedback,
figures, links, slug, history) kept, conflicts reported, the dry run listing them, and a
second run of the same file changing nothing."""

import csv
import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from feedback.models import Feedback
from mitigations.importer import DatasetError, import_dataset
from mitigations.models import Figure, Mitigation
from tests.factories import FeedbackFactory

pytestmark = pytest.mark.django_db

COLUMNS = ["id", "name", "definition", "taxonomy_code", "related_ids", "status", "previous_codes"]
IMPORT_URL = "/admin/mitigations/mitigation/import/"


def row(code, name, previous="", related="", status="published"):
    return {
        "id": code,
        "name": name,
        "definition": f"What {name} does.",
        "taxonomy_code": "1",
        "related_ids": related,
        "status": status,
        "previous_codes": previous,
    }


def dataset(folder, rows, figures=()):
    """A dataset folder: one category, the given mitigation rows, and figures
    (mitigation id, key, value)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "taxonomy.csv").write_text("code,name\n1,Model safeguards\n", encoding="utf-8")
    columns = [c for c in COLUMNS if any(c in r for r in rows)]
    with (folder / "mitigations.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: r.get(c, "") for c in columns} for r in rows)
    if figures:
        with (folder / "figures.csv").open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["mitigation_id", "key", "label", "value"])
            writer.writerows([code, key, f"Figure {key}", value] for code, key, value in figures)
    return folder


def pages():
    """{code: (pk, name)} of every mitigation."""
    return {m.code: (m.pk, m.name) for m in Mitigation.objects.all()}


def problems_of(path):
    with pytest.raises(DatasetError) as caught:
        import_dataset(path)
    return caught.value.lines


@pytest.fixture
def old_catalogue(tmp_path):
    """The old numbering: A1426 is Unlearning, A1429 is the use-policy measure; each has a
    figure and feedback, and they are related."""
    import_dataset(
        dataset(
            tmp_path / "old",
            [
                row("A1426", "Unlearning", related="A1429"),
                row("A1429", "Prohibiting high-stakes applications", related="A1426"),
            ],
            figures=[("A1426", "agree", "61"), ("A1429", "agree", "40")],
        )
    )
    return {code: Mitigation.objects.get(code=code) for code in ("A1426", "A1429")}


def new_numbering(tmp_path, name="new"):
    """Old A1429 -> A1434 while old A1426 -> A1429: a chain, listed in either order."""
    return dataset(
        tmp_path / name,
        [
            row("A1429", "Unlearning", previous="A1426", related="A1434"),
            row("A1434", "Prohibiting high-stakes applications", previous="A1429"),
        ],
        figures=[("A1429", "agree", "61"), ("A1434", "agree", "40")],
    )


def test_a_chain_of_renames_is_applied_at_once(old_catalogue, tmp_path):
    unlearning, prohibiting = old_catalogue["A1426"], old_catalogue["A1429"]

    report = import_dataset(new_numbering(tmp_path))

    assert [str(r) for r in report.renames] == [
        "A1426 -> A1429 (Unlearning)",
        "A1429 -> A1434 (Prohibiting high-stakes applications)",
    ]
    assert pages() == {
        "A1429": (unlearning.pk, "Unlearning"),
        "A1434": (prohibiting.pk, "Prohibiting high-stakes applications"),
    }
    counts = report.counts["mitigations"]
    assert (counts.created, counts.updated, counts.unchanged) == (0, 2, 0)
    assert report.counts["figures"].changed == 0  # the figures stayed with their pages
    assert Figure.objects.get(mitigation=unlearning).value == 61
    unlearning.refresh_from_db()
    assert [m.code for m in unlearning.related.all()] == ["A1434"]
    # simple_history records the new code as a version of the same page.
    assert list(unlearning.history.order_by("history_id").values_list("code", flat=True)) == [
        "A1426",
        "A1429",
    ]


def test_a_freed_code_can_go_to_a_new_page_in_the_same_import(old_catalogue, tmp_path):
    unlearning = old_catalogue["A1426"]
    folder = dataset(
        tmp_path / "shift",
        [
            row("A1426", "Machine unlearning audits"),  # a new page under the freed code
            row("A1427", "Unlearning", previous="A1426"),
        ],
    )

    report = import_dataset(folder)

    assert report.counts["mitigations"].created == 1
    assert pages()["A1427"] == (unlearning.pk, "Unlearning")
    assert pages()["A1426"][1] == "Machine unlearning audits"


def test_a_swap_exchanges_two_codes(old_catalogue, tmp_path):
    unlearning, prohibiting = old_catalogue["A1426"], old_catalogue["A1429"]
    swap = dataset(
        tmp_path / "swap",
        [
            row("A1426", "Prohibiting high-stakes applications", previous="A1429"),
            row("A1429", "Unlearning", previous="A1426"),
        ],
    )

    report = import_dataset(swap)

    assert sorted(str(r) for r in report.renames) == [
        "A1426 -> A1429 (Unlearning)",
        "A1429 -> A1426 (Prohibiting high-stakes applications)",
    ]
    assert pages() == {
        "A1429": (unlearning.pk, "Unlearning"),
        "A1426": (prohibiting.pk, "Prohibiting high-stakes applications"),
    }
    # The same file again: the names show that the swap is done; nothing changes.
    again = import_dataset(swap)
    assert again.renames == [] and again.changed == 0
    assert pages()["A1429"] == (unlearning.pk, "Unlearning")


def test_running_the_same_import_again_changes_nothing(old_catalogue, tmp_path):
    folder = new_numbering(tmp_path)
    import_dataset(folder)
    before = pages()
    versions = Mitigation.history.count()

    again = import_dataset(folder)

    assert again.renames == [] and again.changed == 0
    assert again.counts["mitigations"].unchanged == 2
    assert pages() == before
    assert Mitigation.history.count() == versions


def test_an_import_with_previous_codes_into_an_empty_database_creates_and_reruns(tmp_path):
    """A fresh database (e.g. the demo set up from scratch): previous codes name nothing,
    so the pages are created under their ids; a second run is a no-op, not a rename."""
    folder = new_numbering(tmp_path)

    first = import_dataset(folder)
    again = import_dataset(folder)

    assert first.counts["mitigations"].created == 2 and first.renames == []
    assert again.changed == 0 and again.renames == []
    assert pages()["A1429"][1] == "Unlearning"


def test_feedback_and_urls_stay_with_the_renamed_page(old_catalogue, tmp_path, reader_client):
    unlearning = old_catalogue["A1426"]
    feedback = FeedbackFactory(mitigation=unlearning, status=Feedback.Status.APPROVED)
    old_url = unlearning.get_absolute_url()

    import_dataset(new_numbering(tmp_path))

    feedback.refresh_from_db()
    assert feedback.mitigation_id == unlearning.pk
    assert feedback.mitigation.code == "A1429"
    assert feedback.mitigation.slug == unlearning.slug == "unlearning-a1426"  # slug kept
    page = reader_client.get(old_url)
    assert page.status_code == 200
    assert "Unlearning" in page.text and "A1429" in page.text
    by_code = reader_client.get("/mitigations/A1429/")
    assert by_code.status_code in (301, 302) and by_code["Location"].endswith(old_url)
    assert reader_client.get("/mitigations/A1434/")["Location"].endswith(
        old_catalogue["A1429"].get_absolute_url()
    )
    assert reader_client.get("/mitigations/A1426/").status_code == 404


def test_the_dry_run_lists_the_renames_and_writes_nothing(old_catalogue, tmp_path):
    before = pages()

    report = import_dataset(new_numbering(tmp_path), dry_run=True)

    assert report.dry_run and len(report.renames) == 2
    text = str(report)
    assert "Rename: A1426 -> A1429 (Unlearning)" in text
    assert "Rename: A1429 -> A1434 (Prohibiting high-stakes applications)" in text
    assert pages() == before


def test_the_command_dry_run_prints_the_renames(old_catalogue, tmp_path):
    out = io.StringIO()

    call_command("import_mitigations", str(new_numbering(tmp_path)), "--dry-run", stdout=out)

    assert "Rename: A1426 -> A1429 (Unlearning)" in out.getvalue()
    assert Mitigation.objects.filter(code="A1426").exists()


def test_the_admin_dry_run_lists_the_renames(old_catalogue, tmp_path, editor_client):
    folder = new_numbering(tmp_path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in folder.iterdir():
            archive.write(path, path.name)
    upload = SimpleUploadedFile("renames.zip", buffer.getvalue(), content_type="application/zip")

    response = editor_client.post(IMPORT_URL, {"files": upload, "dry_run": "on"})

    assert response.status_code == 200
    assert "Pages that would get a new id (2)" in response.text
    assert "<code>A1426 -&gt; A1429</code> (Unlearning)" in response.text
    assert Mitigation.objects.filter(code="A1426").exists()


def test_previous_codes_in_a_json_dataset(old_catalogue, tmp_path):
    data = {
        "mitigations": [
            {**row("A1429", "Unlearning"), "previous_codes": "A1426"},
            {**row("A1434", "Prohibiting high-stakes applications"), "previous_codes": "A1429"},
        ]
    }
    path = tmp_path / "renames.json"
    path.write_text(json.dumps(data), encoding="utf-8")

    report = import_dataset(path)

    assert len(report.renames) == 2
    assert pages()["A1429"] == (old_catalogue["A1426"].pk, "Unlearning")


# --- conflicts: reported as file:row:column, nothing written --------------------------------


def test_an_id_and_a_previous_code_naming_two_existing_pages(old_catalogue, tmp_path):
    folder = dataset(tmp_path / "bad", [row("A1429", "Unlearning", previous="A1426")])
    before = pages()

    assert problems_of(folder) == [
        "mitigations.csv:2:previous_codes: the id 'A1429' and the previous code 'A1426' name "
        "two different existing pages; 'A1426' can pass to this row only if the page 'A1429' "
        "gets another id in this import (list 'A1429' in that row's previous_codes)"
    ]
    assert pages() == before


def test_two_rows_claiming_the_same_previous_code(old_catalogue, tmp_path):
    folder = dataset(
        tmp_path / "bad",
        [
            row("A1500", "Unlearning", previous="A1426"),
            row("A1501", "Unlearning again", previous="A1426; A1300"),
        ],
    )

    assert problems_of(folder) == [
        "mitigations.csv:3:previous_codes: 'A1426' is also a previous code of 'A1500' "
        "(row 2); an old code can pass to one page only"
    ]
    assert not Mitigation.objects.filter(code__in=["A1500", "A1501"]).exists()


def test_a_previous_code_that_is_another_rows_id_not_renamed_away(old_catalogue, tmp_path):
    """Moving A1426 to A1429 while A1429 keeps its page (the row that should move it on
    is missing): reported, instead of overwriting A1429's page with Unlearning."""
    folder = dataset(
        tmp_path / "bad",
        [
            row("A1426", "Certified unlearning"),
            row("A1429", "Unlearning", previous="A1426"),
        ],
    )

    assert problems_of(folder) == [
        "mitigations.csv:3:previous_codes: the row has the name of page 'A1426', its previous "
        "code, but its id 'A1429' names another existing page ('Prohibiting high-stakes "
        "applications') that this import does not rename: give that page a new id in this "
        "import, with 'A1429' in its previous_codes"
    ]
    assert pages()["A1429"][1] == "Prohibiting high-stakes applications"


def test_a_row_cannot_take_over_two_existing_pages(old_catalogue, tmp_path):
    folder = dataset(tmp_path / "bad", [row("A1500", "Merged", previous="A1426;A1429")])

    assert problems_of(folder) == [
        "mitigations.csv:2:previous_codes: 'A1426' and 'A1429' all name existing pages; "
        "a row can take over one page only"
    ]


def test_a_swap_whose_names_tell_nothing_is_reported(old_catalogue, tmp_path):
    folder = dataset(
        tmp_path / "bad",
        [
            row("A1426", "A new title", previous="A1429"),
            row("A1429", "Unlearning", previous="A1426"),
        ],
    )

    (line,) = problems_of(folder)

    assert line.startswith("mitigations.csv:2:previous_codes: the previous codes form a cycle")
    assert "'A1429' -> 'A1426', 'A1426' -> 'A1429'" in line
    assert pages()["A1426"][1] == "Unlearning"


def test_a_reference_to_a_renamed_away_code_is_unknown(old_catalogue, tmp_path):
    folder = dataset(
        tmp_path / "bad",
        [
            row("A1427", "Unlearning", previous="A1426"),
            row("A1500", "Audits", related="A1426"),
        ],
    )

    assert problems_of(folder) == [
        "mitigations.csv:3:related_ids: unknown mitigation id 'A1426' (this import renames "
        "it to 'A1427'); it must be in mitigations.csv or already in the database"
    ]


def test_an_unknown_or_own_previous_code_is_ignored(old_catalogue, tmp_path):
    folder = dataset(
        tmp_path / "noop",
        [
            row("A1426", "Unlearning", previous="A1426; Z999", related="A1429"),
            row("A1429", "Prohibiting high-stakes applications", related="A1426"),
        ],
    )

    report = import_dataset(folder)

    assert report.renames == [] and report.changed == 0


def test_an_export_does_not_write_previous_codes(old_catalogue, tmp_path):
    import_dataset(new_numbering(tmp_path))

    response = Client().get("/mitigations/export.json")

    assert "previous_codes" not in response.content.decode()
