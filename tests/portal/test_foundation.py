"""The foundation: production settings, deploy checks, health, roles, accounts, error pages."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import DatabaseError
from django.test import override_settings

from portal.lib import access

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "x7Gq2-Lk9vR4tP0wZs8eY1uH6mN3bC5dF0jA2kQ9rT7yW4pX1zV8cE6gB3nM5hJ0",
    "ALLOWED_HOSTS": "portal.example.org",
    "DATABASE_URL": "sqlite:////tmp/portal-deploy-check.sqlite3",
    "EMAIL_URL": "smtp+tls://portal:secret@smtp.example.org:587",
}


def run_manage(*args, env):
    base = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_secret_key():
    env = {k: v for k, v in PROD_ENV.items() if k != "SECRET_KEY"}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_refuses_a_weak_secret_key():
    result = run_manage("check", env={**PROD_ENV, "SECRET_KEY": "short"})
    assert result.returncode != 0
    assert "too weak" in result.stderr


def test_check_deploy_is_clean_with_production_values():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_development_starts_without_secret_key():
    result = run_manage("check", env={"DEBUG": "true"})
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db
def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}


@pytest.mark.django_db
def test_healthz_503_when_database_unreachable(client, monkeypatch):
    from django.db import connections

    def broken(alias):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(connections, "create_connection", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"


@pytest.mark.django_db
def test_healthz_503_with_real_unreachable_database(client, settings):
    from django.db import connections

    bad = dict(connections.settings["default"])
    if bad["ENGINE"].endswith("sqlite3"):
        bad["NAME"] = "/nonexistent-dir/none.sqlite3"
    else:
        bad["PORT"] = "1"
        bad["OPTIONS"] = {**bad.get("OPTIONS", {}), "connect_timeout": 1}
    original = connections.settings["default"]
    connections.settings["default"] = bad
    try:
        response = client.get("/healthz")
    finally:
        connections.settings["default"] = original
    assert response.status_code == 503


@pytest.mark.django_db
def test_role_groups_and_permissions_exist_after_migrate():
    for role, perms in access.ROLES.items():
        group = Group.objects.get(name=access.group_name(role))
        have = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert have == set(perms)
    reviewer_perms = set(access.ROLES[access.REVIEWER])
    assert access.SEE_RESTRICTED_FIGURES in reviewer_perms
    assert access.SEE_DRAFTS not in reviewer_perms
    assert access.MODERATE not in reviewer_perms


@pytest.mark.django_db
def test_create_account_creates_then_updates(monkeypatch, capsys):
    from django.contrib.auth import get_user_model

    User = get_user_model()
    monkeypatch.delenv("PORTAL_ACCOUNT_PASSWORD", raising=False)
    call_command("create_account", "alice", "--role", "reviewer", "--email", "a@example.org")
    out = capsys.readouterr().out
    assert "Created reviewer account 'alice'" in out
    assert "/accounts/welcome/" in out  # the setup link sets the password
    alice = User.objects.get(username="alice")
    assert not alice.has_usable_password()
    assert access.account_role(alice) == access.REVIEWER
    assert not alice.is_staff

    monkeypatch.setenv("PORTAL_ACCOUNT_PASSWORD", "a-new-long-password")
    call_command("create_account", "alice", "--role", "editor")
    out = capsys.readouterr().out
    assert "Updated editor account 'alice'" in out
    assert "Password:" not in out
    alice = User.objects.get(username="alice")  # fresh object: no cached permissions
    assert alice.check_password("a-new-long-password")
    assert alice.email == "a@example.org"
    assert alice.is_staff
    assert access.account_role(alice) == access.EDITOR
    assert list(alice.groups.values_list("name", flat=True)) == [access.group_name("editor")]


@pytest.mark.django_db
def test_create_account_rejects_bad_email():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--email"):
        call_command("create_account", "bob", "--role", "reviewer", "--email", "not-an-email")


@pytest.mark.django_db
def test_404_page_is_friendly_and_reveals_nothing(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body
    assert "Traceback" not in body and "urlpatterns" not in body.lower()


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_500_page_is_friendly(client, monkeypatch):
    from mitigations import views

    def boom(request):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(views, "_visible", lambda user: boom(None))
    client.raise_request_exception = False
    response = client.get("/mitigations/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body
    assert "secret internal detail" not in body


@pytest.mark.django_db
def test_400_and_403_templates_render():
    from django.template.loader import render_to_string

    assert "Bad request" in render_to_string("400.html")
    assert "Not allowed" in render_to_string("403.html")
    assert "expired" in render_to_string("403_csrf.html")


@pytest.mark.django_db
def test_oversized_body_is_refused_with_413(client, settings):
    settings.MAX_REQUEST_BODY = 1000
    response = client.post("/feedback/", data="x" * 2000, content_type="text/plain")
    assert response.status_code == 413


@pytest.mark.django_db
def test_security_headers_present(client):
    response = client.get("/accounts/signin/")
    csp = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp
    assert "default-src 'self'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
def test_sign_in_page_and_password_reset_flow(client, reviewer, mailoutbox):
    assert client.get("/accounts/signin/").status_code == 200
    response = client.post("/accounts/password/reset/", {"email": reviewer.email})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert "/accounts/password/reset/" in mailoutbox[0].body


@pytest.mark.django_db
def test_no_public_sign_up(client):
    assert client.get("/accounts/signup/").status_code == 404
    assert client.get("/accounts/register/").status_code == 404
