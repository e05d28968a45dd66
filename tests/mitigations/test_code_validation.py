"""One validator for a mitigation's id (Mitigation.code): the admin and the importer use it."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from mitigations.importer import DatasetError, import_dataset
from mitigations.models import Mitigation, validate_mitigation_code
from tests.factories import CategoryFactory, MitigationFactory

BAD = ["A/1", "A 1", "A.1", "A1?", "ä1", "", "A1\n", "../x"]


def admin_form(category, **overrides):
    data = {
        "code": "A1",
        "name": "A page",
        "slug": "a-page",
        "status": "published",
        "category": category.pk,
        "definition": "Defined.",
        "additional_information": "",
        "classified_by": "human",
        "reasoning": "",
        "figures-TOTAL_FORMS": "0",
        "figures-INITIAL_FORMS": "0",
        "figures-MIN_NUM_FORMS": "0",
        "figures-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("code", BAD)
def test_the_validator_refuses(code):
    with pytest.raises(ValidationError):
        validate_mitigation_code(code)


@pytest.mark.parametrize("code", ["A1427", "x-1_b", "Z9"])
def test_the_validator_accepts(code):
    validate_mitigation_code(code)


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["A/1", "A 1", "../x"])
def test_admin_refuses_a_bad_code_with_a_form_error(editor_client, code):
    category = CategoryFactory()
    response = editor_client.post(
        "/admin/mitigations/mitigation/add/", admin_form(category, code=code)
    )
    assert response.status_code == 200
    assert "is not a valid id" in response.text
    assert not Mitigation.objects.exists()
    response = editor_client.post(
        "/admin/mitigations/mitigation/add/", admin_form(category, code="A1")
    )
    assert response.status_code == 302
    assert Client().get("/mitigations/a-page/").status_code == 200


@pytest.mark.django_db
def test_admin_change_form_refuses_a_bad_code(editor_client):
    m = MitigationFactory(code="B1", slug="b-page")
    data = admin_form(m.category, code="B/1", slug="b-page")
    response = editor_client.post(f"/admin/mitigations/mitigation/{m.pk}/change/", data)
    assert response.status_code == 200
    assert "is not a valid id" in response.text
    m.refresh_from_db()
    assert m.code == "B1"
    assert Client().get("/mitigations/b-page/").status_code == 200


@pytest.mark.django_db
def test_importer_uses_the_same_rule(tmp_path):
    category = CategoryFactory()
    (tmp_path / "mitigations.csv").write_text(
        f"id,name,definition,taxonomy_code\nA/1,Slash,Defined,{category.code}\n",
        encoding="utf-8",
    )
    with pytest.raises(DatasetError) as caught:
        import_dataset(tmp_path)
    assert any("is not a valid id" in str(p) for p in caught.value.problems)
