"""/healthz: the deep check (a fresh database connection) only for the load balancer's
address or a token; a cheap answer that touches no backing service for everyone else."""

import pytest
from django.db import connections
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture
def connects(monkeypatch):
    opened = []
    real = connections.create_connection

    def counting(alias):
        opened.append(alias)
        return real(alias)

    monkeypatch.setattr(connections, "create_connection", counting)
    return opened


def test_public_callers_get_a_cheap_answer(settings, connects, django_assert_num_queries):
    settings.HEALTHZ_DEEP_ADDRESSES = ["10.1.2.3"]
    with django_assert_num_queries(0):
        response = Client(REMOTE_ADDR="203.0.113.9").get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert connects == []
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.parametrize("allowed", ["10.1.2.3", "10.1.0.0/16"])
def test_the_load_balancer_gets_the_deep_check(settings, connects, allowed):
    settings.HEALTHZ_DEEP_ADDRESSES = [allowed]
    response = Client(REMOTE_ADDR="10.1.2.3").get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert connects == ["default"]


def test_the_token_gets_the_deep_check(settings, connects):
    settings.HEALTHZ_DEEP_ADDRESSES = []
    settings.HEALTHZ_TOKEN = "s3cret-health-token"
    client = Client(REMOTE_ADDR="203.0.113.9")
    assert client.get("/healthz", HTTP_X_HEALTHZ_TOKEN="wrong").json() == {"status": "ok"}
    assert client.get("/healthz", HTTP_X_HEALTHZ_TOKEN="").json() == {"status": "ok"}
    deep = client.get("/healthz", HTTP_X_HEALTHZ_TOKEN="s3cret-health-token")
    assert deep.json()["database"] == "ok" and connects == ["default"]


def test_no_token_configured_means_no_token_access(settings, connects):
    settings.HEALTHZ_DEEP_ADDRESSES = []
    settings.HEALTHZ_TOKEN = ""
    response = Client(REMOTE_ADDR="203.0.113.9").get("/healthz", HTTP_X_HEALTHZ_TOKEN="")
    assert response.json() == {"status": "ok"} and connects == []


def test_a_dead_database_is_reported_to_the_load_balancer_only(settings, monkeypatch):
    from django.db import DatabaseError

    def broken(alias):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(connections, "create_connection", broken)
    settings.HEALTHZ_DEEP_ADDRESSES = ["10.1.2.3"]
    assert Client(REMOTE_ADDR="10.1.2.3").get("/healthz").status_code == 503
    assert Client(REMOTE_ADDR="203.0.113.9").get("/healthz").status_code == 200
