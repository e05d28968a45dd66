"""The admin's import with eyes open: page-by-page dry run, warnings for admin edits, the
checked files imported later by a signed token, spreadsheet-style problems."""

import csv
import io
import tempfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mitigations import import_review
from mitigations.importer import Problem, import_dataset
from mitigations.models import Figure, Mitigation, StagedImport
from tests.factories import FeedbackFactory, UserFactory

pytestmark = pytest.mark.django_db

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
IMPORT_URL = "/admin/mitigations/mitigation/import/"
LONG = "A much longer additional information text that goes on for quite a while. " * 3


def demo_files(edit=None):
    """The demo dataset as uploads; `edit(rows)` may change the mitigations rows."""
    files = []
    for path in sorted(DEMO.glob("*.csv")):
        data = path.read_bytes()
        if path.name == "mitigations.csv" and edit is not None:
            rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
            edit(rows)
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
            data = out.getvalue().encode()
        files.append(SimpleUploadedFile(path.name, data, content_type="text/csv"))
    return files


def change_first(rows):
    rows[0]["name"] = "Renamed in the spreadsheet"
    rows[0]["additional_information"] = LONG


def first_code():
    with (DEMO / "mitigations.csv").open(encoding="utf-8-sig") as file:
        return next(csv.DictReader(file))["id"]


@pytest.fixture
def imported():
    import_dataset(DEMO)
    return Mitigation.objects.get(code=first_code())


def dry_run(client, edit=change_first):
    return client.post(IMPORT_URL, {"files": demo_files(edit), "dry_run": "on"})


def test_dry_run_lists_each_changed_page_with_old_and_new(editor_client, imported):
    old_name = imported.name
    response = dry_run(editor_client)
    assert response.status_code == 200
    pages = response.context["report"].pages
    assert [(p.code, p.kind) for p in pages] == [(imported.code, "updated")]
    html = response.text
    assert "Pages that would change (1; the other mitigations are unchanged)" in html
    assert f"<del>{old_name}</del>" in html and "<ins>Renamed in the spreadsheet</ins>" in html
    assert 'class="import-diff"' in html  # the long text as a word diff
    assert f'href="/admin/mitigations/mitigation/{imported.pk}/change/"' in html
    imported.refresh_from_db()
    assert imported.name == old_name  # a dry run writes nothing


def test_dry_run_lists_created_pages(editor_client):
    response = dry_run(editor_client, edit=None)
    pages = response.context["report"].pages
    assert pages and {p.kind for p in pages} == {"created"}
    assert Mitigation.objects.count() == 0


def test_dry_run_warns_about_pages_edited_in_the_admin(editor_client, editor, imported):
    imported.definition = "Edited by hand."
    imported._history_user = editor
    imported.save()
    response = dry_run(editor_client)
    assert response.context["edit_count"] == 1
    html = response.text
    assert f"This import would undo the edit {editor.username} made on" in html
    assert 'class="import-warning" role="alert"' in html


def test_no_warning_when_the_last_version_is_an_import(editor_client, imported):
    response = dry_run(editor_client)
    assert response.context["edit_count"] == 0
    assert "would undo the edit" not in response.text


def test_import_these_files_now_applies_exactly_the_checked_files(editor_client, imported):
    response = dry_run(editor_client)
    token = response.context["apply_token"]
    assert token and 'value="Import these files now"' in response.text
    assert StagedImport.objects.count() == 1
    response = editor_client.post(IMPORT_URL, {"apply_token": token})
    assert response.status_code == 200
    assert "Dataset imported" in response.text
    imported.refresh_from_db()
    assert imported.name == "Renamed in the spreadsheet"
    assert f'href="/mitigations/{imported.slug}/"' in response.text  # links to each page
    assert StagedImport.objects.count() == 0
    again = editor_client.post(IMPORT_URL, {"apply_token": token})
    assert "choose the files again" in again.text


def test_no_token_when_nothing_would_change(editor_client, imported):
    response = dry_run(editor_client, edit=None)
    assert response.context["report"].changed == 0
    assert response.context["apply_token"] is None
    assert StagedImport.objects.count() == 0


@pytest.mark.parametrize("how", ["tampered", "expired", "someone else", "garbage", "empty"])
def test_bad_tokens_import_nothing(editor_client, imported, monkeypatch, how):
    token = dry_run(editor_client).context["apply_token"]
    if how == "tampered":
        token = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    elif how == "expired":
        monkeypatch.setattr(import_review, "TOKEN_SECONDS", -1)
    elif how == "someone else":
        other = UserFactory(role="editor")
        token = import_review.stage(demo_files(change_first), other)
    elif how == "garbage":
        token = "not-a-token"
    else:
        token = ""
    response = editor_client.post(IMPORT_URL, {"apply_token": token})
    assert response.status_code == 200
    assert "choose the files again" in response.text and "Nothing was imported" in response.text
    imported.refresh_from_db()
    assert imported.name != "Renamed in the spreadsheet"


def test_reviewers_cannot_apply_a_token(editor_client, reviewer_client, imported):
    token = dry_run(editor_client).context["apply_token"]
    response = reviewer_client.post(IMPORT_URL, {"apply_token": token})
    assert response.status_code in (302, 403)
    imported.refresh_from_db()
    assert imported.name != "Renamed in the spreadsheet"


def test_figure_changes_are_listed_under_their_page(editor_client, imported):
    figure = Figure.objects.filter(mitigation=imported).order_by("position").first()
    figure.value = figure.value + 1
    figure.save()
    response = dry_run(editor_client, edit=None)
    [page] = response.context["report"].pages
    assert page.code == imported.code
    assert any(name == f"figure {figure.key}: value" for name, _old, _new in page.fields)


def test_spreadsheet_problem_wording():
    seen, line = import_review.spreadsheet_problem(Problem("figures.csv", 7, "value", "bad"))
    assert (seen, line) == ("Sheet figures, row 7, column value: bad", "figures.csv:7:value")
    seen, _ = import_review.spreadsheet_problem(Problem("data.json[figures]", 3, "-", "bad"))
    assert seen == "Sheet figures, item 3: bad"


def test_an_import_marks_feedback_on_changed_sections_outdated(
    imported, editor, django_capture_on_commit_callbacks
):
    version = imported.history.latest().history_id
    about_definition = FeedbackFactory(
        mitigation=imported, page_version=version, section="definition"
    )
    about_reasoning = FeedbackFactory(
        mitigation=imported, page_version=version, section="reasoning"
    )
    workdir = Path(tempfile.mkdtemp())
    for upload in demo_files(change_first):
        (workdir / upload.name).write_bytes(upload.read())
    with django_capture_on_commit_callbacks(execute=True):
        import_dataset(workdir, user=editor)
    about_definition.refresh_from_db()
    about_reasoning.refresh_from_db()
    assert about_definition.page_changed_at is not None  # the name changed
    assert about_reasoning.page_changed_at is None
