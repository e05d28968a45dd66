"""Responses with restricted data are never stored by the browser; sign-out clears its cache."""

import time

import pytest

from tests.factories import FigureFactory, MitigationFactory


@pytest.fixture
def page(db):
    m = MitigationFactory(code="N1", slug="n-page")
    FigureFactory(mitigation=m, key="secret", label="Secret figure", preliminary=True)
    return m


def directives(response):
    return {part.strip().lower() for part in response["Cache-Control"].split(",")}


@pytest.mark.parametrize("who", ["reviewer", "editor", "plain"])
@pytest.mark.parametrize(
    "url",
    ["/mitigations/n-page/", "/mitigations/", "/", "/mitigations/export.csv", "/accounts/",
     "/mitigations/feed.atom", "/feedback/"],
)  # fmt: skip
def test_signed_in_responses_are_no_store(request, page, who, url):
    client = request.getfixturevalue(f"{who}_client")
    for _ in range(2):  # a rendering and a page-cache hit
        response = client.get(url)
        assert response.status_code == 200
        cc = directives(response)
        assert "no-store" in cc and "private" in cc, response["Cache-Control"]
        assert "public" not in cc and "no-cache" not in cc
        assert not any(d.startswith("max-age=") and d != "max-age=0" for d in cc)


def test_the_restricted_page_itself(page, reviewer_client):
    response = reviewer_client.get("/mitigations/n-page/")
    assert "Secret figure" in response.text
    assert "no-store" in directives(response)


def test_the_admin_stays_no_store(page, editor_client):
    response = editor_client.get("/admin/mitigations/mitigation/")
    assert "no-store" in directives(response)


def test_anonymous_pages_keep_their_caching(page, reader_client):
    assert "no-store" not in directives(reader_client.get("/mitigations/n-page/"))
    assert "public" in directives(reader_client.get("/mitigations/export.csv"))


def test_sign_out_clears_the_browser_cache(page, reviewer_client):
    response = reviewer_client.post("/accounts/signout/")
    assert response.status_code in (200, 302)
    assert response["Clear-Site-Data"] == '"cache"'
    assert "no-store" in directives(response)
    # Not on every response: only the one that signs out.
    assert "Clear-Site-Data" not in reviewer_client.get("/").headers


def test_idle_sign_out_clears_the_browser_cache(page, reviewer_client, settings, monkeypatch):
    settings.IDLE_TIMEOUT = 600
    assert reviewer_client.get("/accounts/").status_code == 200
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 601)
    response = reviewer_client.get("/accounts/")
    assert response.status_code == 302
    assert response["Clear-Site-Data"] == '"cache"'


def test_anonymous_sign_out_sends_no_clear(reader_client, db):
    response = reader_client.post("/accounts/signout/")
    assert "Clear-Site-Data" not in response.headers
