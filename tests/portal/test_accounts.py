"""Accounts hardening: lockout, client address behind proxies, session rotation, idle timeout,
sign-in log, database outage answered with 503."""

import logging
import time

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.db import OperationalError
from django.test import RequestFactory

from portal.lib.clientip import client_ip
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def sign_in(client, username, password, **extra):
    return client.post("/accounts/signin/", {"username": username, "password": password}, **extra)


def test_sign_in_redirects_to_next_and_rotates_the_session(client, reviewer):
    client.get("/accounts/signin/")
    client.session.save()
    before = client.cookies["sessionid"].value if "sessionid" in client.cookies else None
    response = sign_in(client, reviewer.username, PASSWORD)
    assert response.status_code == 302
    after = client.cookies["sessionid"].value
    assert after and after != before
    other = client.__class__()
    response = other.post(
        "/accounts/signin/?next=/mitigations/",
        {"username": reviewer.username, "password": PASSWORD, "next": "/mitigations/"},
    )
    # A reviewer goes on to the second factor, which then leads to `next`.
    assert response["Location"] == "/accounts/second-factor/?next=%2Fmitigations%2F"


def test_next_cannot_redirect_off_site(client, reviewer):
    response = client.post(
        "/accounts/signin/",
        {"username": reviewer.username, "password": PASSWORD, "next": "https://evil.example/x"},
    )
    assert response.status_code == 302
    assert "evil.example" not in response["Location"]


def test_lockout_after_repeated_failures(client, reviewer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, reviewer.username, "wrong").status_code == 200
    response = sign_in(client, reviewer.username, "wrong")
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    # Even the right password is refused while locked out.
    assert sign_in(client, reviewer.username, PASSWORD).status_code == 429
    assert AccessFailureLog.objects.filter(username=reviewer.username).count() >= 5
    # Another account from the same address is not locked (lockout is per user + address).
    from tests.factories import UserFactory

    other = UserFactory(username="other-reviewer", role="reviewer")
    assert sign_in(client, other.username, PASSWORD).status_code == 302


def test_successful_sign_in_is_logged(client, reviewer, caplog):
    with caplog.at_level(logging.INFO, logger="portal.auth"):
        sign_in(client, reviewer.username, PASSWORD)
        sign_in(client.__class__(), reviewer.username, "wrong")
    assert AccessLog.objects.filter(username=reviewer.username).exists()
    messages = [r.getMessage() for r in caplog.records]
    assert any("sign-in user=rita-reviewer" in m for m in messages)
    assert any("failed sign-in user='rita-reviewer'" in m for m in messages)


def test_forwarded_for_is_ignored_without_trusted_proxies(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(request) == "10.0.0.9"


def test_only_the_trusted_proxys_entry_counts(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client forged "6.6.6.6"; our proxy appended the address it really saw.
    request = RequestFactory().get(
        "/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7"
    )
    assert client_ip(request) == "203.0.113.7"
    settings.TRUSTED_PROXY_COUNT = 2
    request = RequestFactory().get(
        "/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7, 10.0.0.2"
    )
    assert client_ip(request) == "203.0.113.7"
    # A header shorter than the proxy count: its left-most entry was written by a proxy of ours.
    request = RequestFactory().get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert client_ip(request) == "203.0.113.8"
    # No header at all: the peer itself.
    assert client_ip(RequestFactory().get("/", REMOTE_ADDR="127.0.0.1")) == "127.0.0.1"


def test_lockout_is_keyed_by_the_real_client_behind_a_proxy(client, reviewer, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, reviewer.username, "wrong", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.7")
    # Forging a different left-most address does not escape the lockout.
    forged = sign_in(
        client, reviewer.username, PASSWORD, HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.7"
    )
    assert forged.status_code == 429
    assert AccessAttempt.objects.filter(ip_address="203.0.113.7").exists()
    # The same user from another real address can still sign in.
    ok = sign_in(
        client.__class__(),
        reviewer.username,
        PASSWORD,
        HTTP_X_FORWARDED_FOR="1.1.1.1, 198.51.100.1",
    )
    assert ok.status_code == 302


def test_idle_timeout_signs_out(reviewer_client, settings, monkeypatch):
    settings.IDLE_TIMEOUT = 600
    assert reviewer_client.get("/accounts/").status_code == 200
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 601)
    response = reviewer_client.get("/accounts/")
    assert response.status_code == 302
    assert "/accounts/signin/" in response["Location"]
    page = reviewer_client.get(response["Location"]).content.decode()
    assert "signed out after a period of inactivity" in page


def test_activity_keeps_the_session(reviewer_client, settings, monkeypatch):
    settings.IDLE_TIMEOUT = 600
    real = time.time
    for step in range(4):  # 4 requests, 5 minutes apart: never idle for 10 minutes
        monkeypatch.setattr(time, "time", lambda step=step: real() + step * 300)
        assert reviewer_client.get("/accounts/").status_code == 200


def test_database_outage_is_a_503_not_a_traceback(client, monkeypatch, settings):
    from mitigations import views

    def down(user):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(views, "_visible", down)
    client.raise_request_exception = False
    response = client.get("/mitigations/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.content.decode()
    assert "temporarily unavailable" in body
    assert "could not connect" not in body


def test_production_cookies_are_secure_httponly_samesite():
    import subprocess
    import sys

    from tests.portal.test_foundation import PROD_ENV, ROOT

    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, s.SESSION_COOKIE_SAMESITE, "
        "s.CSRF_COOKIE_SECURE)"
    )
    out = (
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env={**PROD_ENV, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert out.split() == ["True", "True", "Lax", "True"]
