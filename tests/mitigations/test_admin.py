"""The catalogue admin: access, every page, the policy, query counts, the dataset upload page."""

import csv
import datetime
import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mitigations.importer import import_dataset
from mitigations.models import (
    Actor,
    Figure,
    FigureView,
    LifecycleStage,
    Mitigation,
    RmfFunction,
    SourceDocument,
    TaxonomyCategory,
)
from portal.lib import access
from tests.conftest import verify_session
from tests.factories import (
    ActorFactory,
    FigureFactory,
    LifecycleStageFactory,
    MitigationFactory,
    RmfFunctionFactory,
    SourceFactory,
    UserFactory,
)

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
IMPORT_URL = "/admin/mitigations/mitigation/import/"
MODELS = [
    TaxonomyCategory, LifecycleStage, Actor, RmfFunction, SourceDocument, Mitigation, Figure,
    FigureView,
]  # fmt: skip


@pytest.fixture
def catalogue(editor):
    """One object of every model, with links between them."""
    figure = FigureFactory(preliminary=True)
    m = figure.mitigation
    m.lifecycle_primary = LifecycleStageFactory()
    m.actor_primary = ActorFactory()
    m.rmf_primary = RmfFunctionFactory()
    m.save()
    m.sources.add(SourceFactory())
    m.related.add(MitigationFactory(status=Mitigation.Status.DRAFT))
    FigureView.objects.create(user=editor, mitigation=m, day=datetime.date(2025, 3, 1))
    return {
        TaxonomyCategory: m.category,
        LifecycleStage: m.lifecycle_primary,
        Actor: m.actor_primary,
        RmfFunction: m.rmf_primary,
        SourceDocument: m.sources.get(),
        Mitigation: m,
        Figure: figure,
        FigureView: FigureView.objects.get(),
    }


def admin_url(model, view, *args):
    return reverse(f"admin:mitigations_{model._meta.model_name}_{view}", args=args)


def demo_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(DEMO.glob("*.csv")):
            archive.write(path, f"demo/{path.name}")
    return buffer.getvalue()


# --- access ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_editor_opens_every_changelist_and_change_form(editor_client, catalogue, model):
    obj = catalogue[model]
    response = editor_client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    assert str(obj) in response.text or obj._meta.model_name == "figureview"

    response = editor_client.get(admin_url(model, "change", obj.pk))
    assert response.status_code == 200
    assert response.context["original"] == obj

    add = editor_client.get(admin_url(model, "add"))
    assert add.status_code == (403 if model is FigureView else 200)


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["reader_client", "plain_client", "reviewer_client"])
def test_non_editors_are_sent_to_the_admin_login(request, who, catalogue):
    client = request.getfixturevalue(who)
    for url in (
        admin_url(Mitigation, "changelist"),
        admin_url(Figure, "change", catalogue[Figure].pk),
        admin_url(FigureView, "changelist"),
        IMPORT_URL,
    ):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url
    response = client.post(IMPORT_URL, {"dry_run": "on"})
    assert response.status_code == 302
    assert Mitigation.objects.filter(code__startswith="A14").count() == 0


@pytest.mark.django_db
def test_staff_without_the_add_permission_cannot_import(client):
    staff = UserFactory(username="staff-no-perms")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    verify_session(client, staff)  # staff without a role, second factor passed
    assert client.get(IMPORT_URL).status_code == 403


@pytest.mark.django_db
def test_figure_views_are_a_read_only_audit(editor_client, catalogue):
    view = catalogue[FigureView]
    changelist = editor_client.get(admin_url(FigureView, "changelist"))
    assert changelist.status_code == 200
    assert "eddie-editor" in changelist.text
    assert 'name="_save"' not in editor_client.get(admin_url(FigureView, "change", view.pk)).text
    assert editor_client.get(admin_url(FigureView, "delete", view.pk)).status_code == 403
    response = editor_client.post(admin_url(FigureView, "change", view.pk), {"views": 99})
    assert response.status_code == 403
    view.refresh_from_db()
    assert view.views == 1
    filtered = editor_client.get(
        admin_url(FigureView, "changelist"), {"day": "2025-03-01", "user__id__exact": view.user_id}
    )
    assert filtered.status_code == 200
    assert filtered.context["cl"].result_count == 1


# --- the admin asks the visibility policy ------------------------------------------------------


@pytest.mark.django_db
def test_admin_querysets_go_through_the_policy(editor_client, catalogue, monkeypatch):
    m = catalogue[Mitigation]
    asked = []

    def no_mitigations(queryset, user):
        asked.append(user)
        return queryset.none()

    def no_figures(queryset, user, now=None):
        asked.append(user)
        return queryset.none()

    monkeypatch.setattr(access, "visible_mitigations", no_mitigations)
    monkeypatch.setattr(access, "visible_figures", no_figures)

    assert editor_client.get(admin_url(Mitigation, "changelist")).context["cl"].result_count == 0
    assert editor_client.get(admin_url(Figure, "changelist")).context["cl"].result_count == 0
    # A page the policy hides is absent from change forms and history too.
    assert editor_client.get(admin_url(Mitigation, "change", m.pk)).status_code == 302
    assert editor_client.get(admin_url(Mitigation, "history", m.pk)).status_code == 404
    assert asked and all(user.username == "eddie-editor" for user in asked)


@pytest.mark.django_db
def test_editors_see_drafts_in_the_admin(editor_client, catalogue):
    response = editor_client.get(admin_url(Mitigation, "changelist"), {"status__exact": "draft"})
    assert response.context["cl"].result_count == 1


# --- query counts ----------------------------------------------------------------------------


def _changelist_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.django_db
def test_mitigation_changelist_queries_do_not_grow_with_rows(
    editor_client, django_assert_max_num_queries
):
    url = admin_url(Mitigation, "changelist")
    MitigationFactory.create_batch(5)
    editor_client.get(url)  # warm up (session, content types)
    few = _changelist_queries(editor_client, url)
    MitigationFactory.create_batch(25)

    with django_assert_max_num_queries(20):
        response = editor_client.get(url)
    assert len(response.context["cl"].result_list) == 30
    assert _changelist_queries(editor_client, url) == few


@pytest.mark.django_db
@pytest.mark.parametrize("model", [Figure, FigureView, SourceDocument, TaxonomyCategory])
def test_other_changelists_do_not_grow_with_rows(editor_client, editor, model):
    def add_rows(n):
        for _ in range(n):
            figure = FigureFactory()
            day = datetime.date(2025, 1, 1) + datetime.timedelta(days=figure.pk)
            FigureView.objects.create(user=editor, mitigation=figure.mitigation, day=day)
            SourceFactory()

    url = admin_url(model, "changelist")
    add_rows(3)
    editor_client.get(url)
    few = _changelist_queries(editor_client, url)
    add_rows(12)
    assert _changelist_queries(editor_client, url) == few


# --- history -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_history_lists_versions_and_changes(editor_client, tmp_path):
    import_dataset(DEMO)
    m = Mitigation.objects.order_by("code").first()
    m.definition = "A better definition."
    m.save()

    response = editor_client.get(admin_url(Mitigation, "history", m.pk))

    assert response.status_code == 200
    assert "Import of demo" in response.text
    assert "<strong>Definition:</strong>" in response.text  # the compare column
    assert "A better definition." in response.text
    assert len(response.context["page_obj"].object_list) == 2
    figure = m.figures.first()
    assert editor_client.get(admin_url(Figure, "history", figure.pk)).status_code == 200


@pytest.mark.django_db
def test_autocomplete_for_related_mitigations(editor_client, catalogue):
    m = catalogue[Mitigation]
    response = editor_client.get(
        "/admin/autocomplete/",
        {"app_label": "mitigations", "model_name": "mitigation", "field_name": "related",
         "term": m.code},
    )  # fmt: skip
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [str(m.pk)]


# --- the dataset upload page -------------------------------------------------------------------


@pytest.mark.django_db
def test_changelist_links_to_the_upload_page(editor_client):
    response = editor_client.get(admin_url(Mitigation, "changelist"))
    assert f'href="{IMPORT_URL}"' in response.text
    page = editor_client.get(IMPORT_URL)
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text
    assert page.context["form"]["dry_run"].initial is True


@pytest.mark.django_db
def test_dry_run_upload_shows_counts_and_writes_nothing(editor_client):
    upload = SimpleUploadedFile("demo.zip", demo_zip(), content_type="application/zip")

    response = editor_client.post(IMPORT_URL, {"files": upload, "dry_run": "on"})

    assert response.status_code == 200
    report = response.context["report"]
    assert report.dry_run
    with (DEMO / "mitigations.csv").open(encoding="utf-8", newline="") as f:
        assert report.counts["mitigations"].created == len(list(csv.DictReader(f)))
    assert "Dry run: nothing was written" in response.text
    assert f"<td>{report.counts['figures'].created}</td>" in response.text
    assert Mitigation.objects.count() == 0
    assert TaxonomyCategory.objects.count() == 0


@pytest.mark.django_db
def test_upload_imports_and_records_the_editor(editor_client, editor):
    upload = SimpleUploadedFile("demo.zip", demo_zip(), content_type="application/zip")

    response = editor_client.post(IMPORT_URL, {"files": upload}, follow=True)

    assert response.status_code == 200
    report = response.context["report"]
    assert not report.dry_run
    assert Mitigation.objects.count() == report.counts["mitigations"].created > 0
    assert Mitigation.history.filter(history_user=editor).count() == Mitigation.objects.count()
    assert "Dataset imported" in response.text


@pytest.mark.django_db
def test_upload_of_several_csv_files(editor_client):
    files = [
        SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/csv")
        for path in sorted(DEMO.glob("*.csv"))
    ]
    response = editor_client.post(IMPORT_URL, {"files": files})
    assert response.status_code == 200
    assert response.context["problems"] is None
    assert Mitigation.objects.count() == response.context["report"].counts["mitigations"].created


@pytest.mark.django_db
def test_a_bad_upload_shows_every_problem_and_writes_nothing(editor_client):
    mitigations = (DEMO / "mitigations.csv").read_bytes().replace(b",2.2.1,", b",9.9.9,", 1)
    files = [
        SimpleUploadedFile(path.name, path.read_bytes())
        for path in sorted(DEMO.glob("*.csv"))
        if path.name not in ("mitigations.csv", "figures.csv")
    ] + [
        SimpleUploadedFile("mitigations.csv", mitigations),
        SimpleUploadedFile("figures.csv", b"mitigation_id,key,label,value\nA1421,k,L,lots\n"),
    ]

    response = editor_client.post(IMPORT_URL, {"files": files, "dry_run": ""})

    assert response.status_code == 200
    problems = [str(p) for p in response.context["problems"]]
    assert len(problems) == 2
    assert ":taxonomy_code: unknown taxonomy code '9.9.9'" in problems[0]
    assert problems[1] == "figures.csv:2:value: 'lots' is not a decimal number (use a point: 62.5)"
    assert "2 problems found: nothing was written" in response.text
    # In the admin each line leads with the sheet, the spreadsheet row and the column.
    assert (
        "Sheet figures, row 2, column value: &#x27;lots&#x27; is not a decimal number"
        in response.text
    )
    assert '<code class="import-file-line">figures.csv:2:value</code>' in response.text
    assert Mitigation.objects.count() == 0 and TaxonomyCategory.objects.count() == 0


@pytest.mark.django_db
def test_unsafe_or_oversized_uploads_are_refused(editor_client, settings):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("mitigations.csv")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    response = editor_client.post(
        IMPORT_URL, {"files": SimpleUploadedFile("evil.zip", buffer.getvalue())}
    )
    assert [str(p) for p in response.context["problems"]] == [
        "evil.zip/mitigations.csv:0:-: symbolic links are not allowed"
    ]

    settings.DATASET_UPLOAD_MAX_BYTES = 1024
    big = SimpleUploadedFile("mitigations.csv", b"x" * 2048)
    response = editor_client.post(IMPORT_URL, {"files": big})
    assert response.context["report"] is None
    assert "at most 0 MB can be imported here" in response.text

    response = editor_client.post(IMPORT_URL, {"dry_run": "on"})
    assert "This field is required." in response.text


@pytest.mark.django_db
def test_admin_forms_refuse_what_save_cannot_store(editor_client):
    response = editor_client.post(
        admin_url(TaxonomyCategory, "add"), {"code": "5.1", "name": "Orphan"}
    )
    assert response.status_code == 200
    assert "The parent category 5 does not exist yet." in response.text
    editor_client.post(admin_url(TaxonomyCategory, "add"), {"code": "5", "name": "Five"})
    assert TaxonomyCategory.objects.get(code="5").level == 1

    LifecycleStageFactory(name="Build and use")
    response = editor_client.post(
        admin_url(LifecycleStage, "add"), {"name": "Build & Use", "position": 0}
    )
    assert response.status_code == 302  # slug build-use: no clash
    response = editor_client.post(
        admin_url(LifecycleStage, "add"), {"name": "Build and  use!", "position": 0}
    )
    assert "already has the same URL slug (build-and-use)" in response.text
    assert LifecycleStage.objects.count() == 2  # "Build & Use" was fine
