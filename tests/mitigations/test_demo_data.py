"""The demo dataset: codes true to the MIT AI Risk Navigator, and an upgrade from its first version.

`data/navigator_ids.csv` lists the Navigator id of every measure of Uuk et al. (2024) that the
demo has; `tests/mitigations/data/demo_v1/` is the demo dataset as it was before its codes
followed the Navigator (every old code now names another page, or no page at all).
"""

import csv
import re
from pathlib import Path

import pytest

from feedback.models import Feedback
from mitigations.importer import import_dataset
from mitigations.models import Figure, Mitigation
from tests.factories import FeedbackFactory

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo"
DEMO_V1 = Path(__file__).resolve().parent / "data" / "demo_v1"
NAVIGATOR_IDS = ROOT / "data" / "navigator_ids.csv"
NAVIGATOR_ID = re.compile(r"A[0-9]{4}")
OUR_PREFIX = "EX"  # demo pages that are not Navigator pages


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def navigator_ids() -> dict[str, str]:
    return {row["navigator_id"]: row["name"] for row in rows(NAVIGATOR_IDS)}


def renames() -> dict[str, str]:
    """Old demo code -> new demo code, from the `previous_codes` column."""
    mapping = {}
    for row in rows(DEMO / "mitigations.csv"):
        for old in filter(None, (c.strip() for c in row["previous_codes"].split(";"))):
            mapping[old] = row["id"]
    return mapping


# --- the files -------------------------------------------------------------------------------


def test_navigator_table_lists_each_mapped_measure_once():
    table = rows(NAVIGATOR_IDS)
    ids = [row["navigator_id"] for row in table]
    assert len(ids) == len(set(ids)) == 23
    assert all(NAVIGATOR_ID.fullmatch(i) for i in ids), ids
    assert len({row["name"] for row in table}) == len(table)
    assert {row["name_status"] for row in table} <= {"paper", "unverified", "ours"}
    assert navigator_ids()["A1429"] == "Unlearning"


def test_every_demo_code_is_a_navigator_id_or_ours():
    demo = rows(DEMO / "mitigations.csv")
    navigator = navigator_ids()
    ours = {row["id"] for row in demo if row["id"].startswith(OUR_PREFIX)}
    theirs = {row["id"] for row in demo} - ours
    assert theirs == set(navigator)
    assert all(re.fullmatch(r"EX[0-9]{3}", code) for code in ours), ours
    # The paper's measure without a Navigator page keeps the paper as its source.
    incident = next(row for row in demo if row["id"] == "EX101")
    assert incident["name"] == "Safety incident reports and security information sharing"
    assert incident["source_ids"] == "uuk2024"


def test_previous_codes_name_every_old_page_exactly_once():
    old = rows(DEMO_V1 / "mitigations.csv")
    new = {row["id"]: row for row in rows(DEMO / "mitigations.csv")}
    mapping = renames()
    listed = [c for row in new.values() for c in row["previous_codes"].split(";") if c]
    assert len(listed) == len(set(listed)), "an old code is claimed twice"
    assert set(mapping) == {row["id"] for row in old}
    for row in old:  # the same measure under its new code
        assert new[mapping[row["id"]]]["name"] == row["name"], row["id"]
    # Chains and swaps are what makes this upgrade interesting: keep them in the data.
    assert mapping["A1426"] == "A1429" and mapping["A1429"] == "A1434"
    assert mapping["A1427"] == "EX101" and "A1427" in new  # an old code reused by a new page


# --- imported --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_mapped_measure_has_its_navigator_id():
    import_dataset(DEMO)
    for code, name in navigator_ids().items():
        assert Mitigation.objects.get(code=code).name == name, code
    assert not Mitigation.objects.filter(code__in=["A1420", "A1431", "A1438", "A1442"]).exists()


@pytest.mark.django_db
def test_the_navigator_url_of_unlearning_opens_unlearning(reader_client):
    import_dataset(DEMO)
    response = reader_client.get("/mitigations/A1429/", follow=True)
    assert response.status_code == 200
    assert response.context["mitigation"].name == "Unlearning"
    assert '<h1 id="mitigation-title" class="h2 mt-3">Unlearning</h1>' in response.text


@pytest.mark.django_db
def test_new_dataset_over_the_old_keeps_pages_feedback_and_urls(editor_client, reviewer):
    import_dataset(DEMO_V1)
    before = {}
    for page in Mitigation.objects.all():
        item = FeedbackFactory(
            mitigation=page,
            comment=f"Reviewer note on {page.name} (was {page.code}).",
            status=Feedback.Status.APPROVED,
            by_reviewer=True,
            user=reviewer,
        )
        before[page.code] = (page.pk, page.name, page.slug, item.pk, item.comment)
    assert len(before) == 46

    dry = import_dataset(DEMO, dry_run=True)
    assert len(dry.renames) == len(before)
    assert "Rename: A1426 -> A1429 (Unlearning)" in dry.rename_lines()
    assert set(Mitigation.objects.values_list("code", flat=True)) == set(before)

    report = import_dataset(DEMO)

    mapping = renames()
    new_codes = set(navigator_ids()) - set(mapping.values())
    assert len(new_codes) == 7
    assert report.counts["mitigations"].created == len(new_codes)
    assert Mitigation.objects.count() == len(before) + len(new_codes)
    for old_code, (pk, name, slug, feedback_pk, comment) in before.items():
        page = Mitigation.objects.get(code=mapping[old_code])
        assert (page.pk, page.name, page.slug) == (pk, name, slug), old_code
        assert list(page.feedback.values_list("pk", flat=True)) == [feedback_pk], old_code
        response = editor_client.get(f"/mitigations/{slug}/")
        assert response.status_code == 200, slug
        assert comment in response.text, slug
        by_code = editor_client.get(f"/mitigations/{page.code}/")
        assert by_code.status_code == 302 and by_code["Location"] == f"/mitigations/{slug}/"
    for code in new_codes:
        page = Mitigation.objects.get(code=code)
        assert not page.feedback.exists(), code
        assert page.figures.count() == 6, code
    # The pages now hold exactly the new dataset: importing it again changes nothing.
    again = import_dataset(DEMO)
    for table in ("mitigations", "figures"):
        assert again.counts[table].created == again.counts[table].updated == 0, table
    assert Figure.objects.count() == len(rows(DEMO / "figures.csv"))
    unlearning = Mitigation.objects.get(code="A1429")
    assert unlearning.slug == before["A1426"][2] == "unlearning-a1426"
    # Its links were rewritten to the new codes (Data curation was A1425 and is now A1426).
    assert {m.code for m in unlearning.related.all()} == {"A1426", "A1432", "EX115", "EX124"}
