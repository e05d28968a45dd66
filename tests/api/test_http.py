"""Caching, CORS and rate limits, by who is asking."""

import json
import re

import pytest
from django.test import Client

from tests.api.conftest import TokenClient
from tests.factories import CategoryFactory, FigureFactory, MitigationFactory

URL = "/api/v1/mitigations/C1?expand=figures"


@pytest.fixture
def page(db):
    page = MitigationFactory(code="C1", category=CategoryFactory(code="4.1.1"))
    FigureFactory(mitigation=page, preliminary=False, label="Publicfigure")
    FigureFactory(mitigation=page, preliminary=True, label="Secretfigure")
    return page


def test_public_responses_have_validators_and_answer_304(page, client):
    first = client.get(URL)
    etag, modified = first["ETag"], first["Last-Modified"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)  # a hash of the body: no id, no counter
    assert first["Cache-Control"].startswith("public, max-age=")
    assert set(first["Vary"].replace(" ", "").split(",")) >= {"Authorization", "Cookie"}
    again = client.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == etag
    assert client.get(URL, HTTP_IF_MODIFIED_SINCE=modified).status_code == 304
    assert client.get(URL, HTTP_IF_NONE_MATCH='"other"').status_code == 200
    # A change to the catalogue: new body, new validators, no 304 for old ones.
    page.name = "Renamed mitigation"
    page.save()
    changed = client.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert "Renamed mitigation" in changed.content.decode()
    assert changed["ETag"] != etag
    assert client.get(URL, HTTP_IF_MODIFIED_SINCE=modified).status_code == 200
    assert client.get(URL, HTTP_IF_MODIFIED_SINCE=changed["Last-Modified"]).status_code == 304


def test_a_figure_change_is_seen_by_if_modified_since(page, client):
    first = client.get(URL)
    figure = page.figures.get(label="Publicfigure")
    figure.label = "Newlabel"
    figure.save()
    response = client.get(URL, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert response.status_code == 200 and "Newlabel" in response.content.decode()


def test_restricted_responses_are_private_no_store_without_validators(page, reviewer_token):
    response = TokenClient(reviewer_token[1]).get(URL)
    assert "Secretfigure" in response.content.decode()
    assert response["Cache-Control"] == "private, no-store"
    assert "ETag" not in response and "Last-Modified" not in response
    assert "Access-Control-Allow-Origin" not in response
    assert set(response["Vary"].replace(" ", "").split(",")) >= {"Authorization", "Cookie"}


def test_cors_only_for_anonymous_requests_and_never_with_credentials(page, plain_client):
    anonymous = Client().get(URL)
    assert anonymous["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in anonymous["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in anonymous
    signed_in = plain_client.get(URL)
    assert "Access-Control-Allow-Origin" not in signed_in
    assert signed_in["Cache-Control"] == "private, no-store"
    assert "Secretfigure" not in signed_in.content.decode()
    # A preflight (what a cross-site page sending a token would need) is not granted.
    preflight = Client().options(URL, HTTP_ORIGIN="https://elsewhere.example")
    assert preflight.status_code == 405
    assert "Access-Control-Allow-Headers" not in preflight


def test_errors_are_not_stored(page, client):
    response = client.get("/api/v1/mitigations/NOPE9")
    assert response.status_code == 404
    assert response["Cache-Control"] == "no-store"
    assert "ETag" not in response


def test_the_schema_is_public_and_the_docs_page_private(client, reviewer_client):
    schema = client.get("/api/v1/openapi.json")
    assert schema["Access-Control-Allow-Origin"] == "*"
    assert schema["Cache-Control"].startswith("public")
    docs = reviewer_client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert "private" in docs["Cache-Control"]
    body = docs.content.decode()
    assert "vendor/swagger-ui/swagger-ui-bundle.js" in body
    assert not re.search(r'<(script|link)[^>]+(src|href)="(https?:)?//', body)  # no CDN
    assert "<script>" not in body and " style=" not in body  # CSP: no inline script or style


@pytest.fixture
def small_limits(settings):
    settings.API_RATE_LIMITS = {"token": (5, 60), "address": (3, 60), "failed_tokens": (4, 60)}


def test_rate_limit_per_address(page, client, small_limits):
    remaining = [client.get("/api/v1/taxonomy")["X-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    limited = client.get("/api/v1/taxonomy")
    assert limited.status_code == 429
    assert json.loads(limited.content)["error"]["code"] == "rate_limited"
    assert 1 <= int(limited["Retry-After"]) <= 60
    assert limited["X-RateLimit-Limit"] == "3" and limited["X-RateLimit-Remaining"] == "0"
    # Another address has its own quota.
    assert client.get("/api/v1/taxonomy", REMOTE_ADDR="10.9.9.9").status_code == 200


def test_rate_limit_per_token(page, client, reviewer_token, editor_token, small_limits):
    reviewer = TokenClient(reviewer_token[1])
    for _ in range(5):
        assert reviewer.get("/api/v1/taxonomy").status_code == 200
    assert reviewer.get("/api/v1/taxonomy").status_code == 429
    # The same address without a token, and another token, are counted apart.
    assert client.get("/api/v1/taxonomy").status_code == 200
    assert TokenClient(editor_token[1]).get("/api/v1/taxonomy").status_code == 200


def test_failed_token_attempts_are_limited_per_address(page, reviewer_token, small_limits):
    for i in range(4):
        assert TokenClient(f"mpt_guess{i}").get("/api/v1/taxonomy").status_code == 401
    assert TokenClient("mpt_guess9").get("/api/v1/taxonomy").status_code == 429
    # ... even with a valid token from that address, until the window ends
    assert TokenClient(reviewer_token[1]).get("/api/v1/taxonomy").status_code == 429
    other = TokenClient(reviewer_token[1], REMOTE_ADDR="10.1.2.3")
    assert other.get("/api/v1/taxonomy").status_code == 200
