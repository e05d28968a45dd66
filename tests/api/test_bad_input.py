"""Bad input: a JSON error with a clear message and the right 4xx, never a 500, no hint."""

import json

import pytest
from django.test import Client

from tests.factories import CategoryFactory, MitigationFactory


@pytest.fixture
def catalogue(db):
    category = CategoryFactory(code="3.1.1")
    return [MitigationFactory(code=f"B{i}", category=category) for i in range(3)]


def error_of(response, status):
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"error"}
    assert body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(
    "query, parameter",
    [
        ("category=9.9.9", "category"),
        ("category=not-a-code", "category"),
        ("lifecycle=nope", "lifecycle"),
        ("actor=nope", "actor"),
        ("rmf=nope", "rmf"),
        ("source=nope", "source"),
        ("status=nope", "status"),
        ("sort=nope", "sort"),
        ("page=abc", "page"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=99999999999999999999", "page"),
        ("page_size=0", "page_size"),
        ("page_size=101", "page_size"),
        ("fields=nope", "fields"),
        ("fields=,", "fields"),
        ("fields=figures", "fields"),
        ("expand=nope", "expand"),
        ("expand=figures,nope", "expand"),
        ("q=" + "x" * 201, "q"),
        ("cursor=eyJwIjoxfQ%3D%3Dtampered", "cursor"),
        ("unknown=1", "unknown"),
    ],
)
def test_bad_list_parameters_are_400(catalogue, client, query, parameter):
    error = error_of(client.get(f"/api/v1/mitigations?{query}"), 400)
    assert error["code"] == "invalid_parameter"
    assert error["parameter"] == parameter


def test_page_beyond_the_end_is_404(catalogue, client):
    assert json.loads(client.get("/api/v1/mitigations?page=1").content)["pages"] == 1
    error = error_of(client.get("/api/v1/mitigations?page=2"), 404)
    assert error["code"] == "page_out_of_range"
    error_of(client.get("/api/v1/sources?page=5"), 404)
    error_of(client.get("/api/v1/changes?page=5"), 404)


def test_an_empty_result_is_one_empty_page(catalogue, client):
    body = json.loads(client.get("/api/v1/mitigations?q=nothingmatchesthis").content)
    assert (body["count"], body["pages"], body["results"]) == (0, 1, [])


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/mitigations?q=" + "x" * 2000,
        "/api/v1/mitigations?fields=" + "id," * 700,
        "/api/v1/taxonomy?" + "a=1&" * 500,
        "/api/v1/mitigations/B1?" + "x" * 2000,
    ],
)
def test_2000_character_query_strings_are_414(catalogue, client, url):
    assert error_of(client.get(url), 414)["code"] == "query_too_long"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token mpt_abc",
        "Bearer mpt_doesnotexist",
        "Bearer not-even-our-format",
        "Bearer " + "x" * 3000,
        "Bearer mpt_\u00e9\u00e8",
        "bearer mpt_a b c",
    ],
)
def test_malformed_or_unknown_tokens_are_401(catalogue, header):
    client = Client(HTTP_AUTHORIZATION=header)
    error = error_of(client.get("/api/v1/mitigations"), 401)
    assert error["code"] == "invalid_token"
    assert "Bearer" in client.get("/api/v1/mitigations")["WWW-Authenticate"]


@pytest.mark.parametrize(
    "url, status",
    [
        ("/api/v1/mitigations/NOPE1", 404),
        ("/api/v1/mitigations/" + "A" * 300, 404),
        ("/api/v1/mitigations/%E2%80%AE", 404),
        ("/api/v1/mitigations/B1/figures?fields=nope", 400),
        ("/api/v1/sources/nope", 404),
        ("/api/v1/sources/" + "s" * 300, 404),
        ("/api/v1/changes?since=yesterday", 400),
        ("/api/v1/changes?since=2026-13-45", 400),
        ("/api/v1/changes?since=2026-01-01T99:00", 400),
        ("/api/v1/nope", 404),
        ("/api/v2/mitigations", 404),
        ("/api/", 404),
    ],
)
def test_other_bad_requests(catalogue, client, url, status):
    error_of(client.get(url), status)


def test_ids_are_case_insensitive_and_answered_in_canonical_form(catalogue, client):
    assert json.loads(client.get("/api/v1/mitigations/b1").content)["id"] == "B1"


def test_since_filters_changes(catalogue, client):
    assert json.loads(client.get("/api/v1/changes?since=2000-01-01").content)["count"] == 3
    assert (
        json.loads(client.get("/api/v1/changes?since=2999-01-01T00:00:00Z").content)["count"] == 0
    )


def test_the_api_is_read_only(catalogue):
    response = Client(enforce_csrf_checks=True).post("/api/v1/mitigations")
    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert "GET" in response["Allow"]
    for method in ("put", "patch", "delete", "options"):  # refused by the site before the API
        response = getattr(Client(), method)("/api/v1/mitigations")
        assert response.status_code == 405 and "GET" in response["Allow"]


def test_head_is_a_get_without_a_body(catalogue, client):
    response = client.head("/api/v1/mitigations")
    assert response.status_code == 200 and response.content == b""
    assert response["ETag"] == client.get("/api/v1/mitigations")["ETag"]


def test_pages_never_overlap_on_ties(db, client):
    category = CategoryFactory(code="3.2.1")
    for i in range(7):
        MitigationFactory(code=f"T{i}", name="Same name", category=category)
    seen = []
    for page in (1, 2, 3):
        body = json.loads(client.get(f"/api/v1/mitigations?page_size=3&page={page}").content)
        seen += [m["id"] for m in body["results"]]
    assert seen == sorted(seen) and len(set(seen)) == 7


@pytest.mark.parametrize("query", ["", "&sort=-updated", "&q=model"])
def test_a_later_page_is_the_same_slice_of_the_whole_list(db, client, query):
    """Pages after the first are read by their ids first, then their rows (a deferred join):
    the same rows in the same order as one long page."""
    category = CategoryFactory(code="3.2.2")
    for i in range(8):
        MitigationFactory(code=f"S{i}", name=f"Model page {i % 3}", category=category)
    whole = json.loads(client.get(f"/api/v1/mitigations?page_size=100{query}").content)
    paged = []
    for page in (1, 2, 3):
        body = json.loads(client.get(f"/api/v1/mitigations?page_size=3&page={page}{query}").content)
        paged += body["results"]
    assert len(whole["results"]) == 8 and paged == whole["results"]
