"""What a token request costs: the shortcuts taken for it give the same answers."""

import datetime
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import TokenClient
from tests.factories import CategoryFactory, FigureFactory, MitigationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue(db):
    category = CategoryFactory(code="6.1.1")
    names = ["beta", "Alpha", "gamma", "alpha", "Delta", "beta"]
    pages = [
        MitigationFactory(code=f"K{i}", name=name, category=category)
        for i, name in enumerate(names)
    ]
    pages.append(MitigationFactory(code="K9", name="Epsilon draft", status="draft"))
    FigureFactory(mitigation=pages[0], preliminary=False, embargo_until=datetime.date(2999, 1, 1))
    return pages


@pytest.mark.parametrize("who", ["reviewer_token", "editor_token", "anonymous"])
def test_the_unfiltered_list_is_the_filter_sets_default_order(catalogue, who, request):
    if who == "anonymous":
        from django.test import Client

        client = Client()
    else:
        client = TokenClient(request.getfixturevalue(who)[1])

    def ids(query):
        body = json.loads(client.get(f"/api/v1/mitigations?page_size=100{query}").content)
        return [m["id"] for m in body["results"]], body["count"]

    # `sort=name` goes through the list page's filter set; no parameter takes the shortcut.
    assert ids("") == ids("&sort=name")
    assert ids("")[1] == (7 if who == "editor_token" else 6)


def test_token_responses_do_not_look_up_the_next_embargo_lift(catalogue, reviewer_token):
    client = TokenClient(reviewer_token[1])
    client.get("/api/v1/mitigations")  # the last-used day is written once
    for url in ("/api/v1/mitigations?page=1", "/api/v1/mitigations/K0?expand=figures"):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200 and "ETag" not in response
        assert not [q for q in queries if "embargo_until" in q["sql"] and "LIMIT 1" in q["sql"]]
        assert not [q for q in queries if q["sql"].startswith('UPDATE "accounts_apitoken"')]


def test_public_responses_still_end_before_the_next_embargo_lift(catalogue, client):
    response = client.get("/api/v1/mitigations/K0?expand=figures")
    max_age = int(response["Cache-Control"].split("max-age=")[1])
    assert 0 < max_age <= 60


def test_the_link_tables_are_read_in_one_query(catalogue, reviewer_token):
    client = TokenClient(reviewer_token[1])
    client.get("/api/v1/mitigations")
    with CaptureQueriesContext(connection) as queries:
        body = json.loads(client.get("/api/v1/mitigations?expand=sources,related").content)
    assert body["count"] == 6
    links = [q["sql"] for q in queries if "_other" in q["sql"] or "mitigation_related" in q["sql"]]
    assert len(links) == 1 and "UNION ALL" in links[0] and "mitigation_sources" in links[0]
