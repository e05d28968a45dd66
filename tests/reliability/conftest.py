"""Fixtures for the reliability tests: app servers (gunicorn) on the test database."""

import contextlib
import secrets

import pytest
from django.conf import settings
from django.db import connection

from portal.lib import access
from tests.reliability.servers import (
    APP_NAME,
    AppServer,
    collectstatic,
    database_url,
    production_env,
    random_secret,
)

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"
)
needs_redis = pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (REDIS_URL)")


@pytest.fixture(scope="session")
def static_root(tmp_path_factory):
    """collectstatic output for the app servers (hashed names, as in production)."""
    target = tmp_path_factory.mktemp("static")
    collectstatic(target)
    return target


@pytest.fixture
def roles(transactional_db):
    """The role groups: a transactional test's flush empties auth_group, so recreate them."""
    access.sync_roles()


@pytest.fixture
def role_groups(db):
    """The role groups for ordinary tests too: after a flush by an earlier transactional
    test (with --reuse-db, or in another order) they are missing."""
    access.sync_roles()


def pg_connect(dbname="postgres", *, autocommit=True):
    """A psycopg connection to `dbname` on the tests' PostgreSQL server."""
    import psycopg

    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        dbname=dbname,
        autocommit=autocommit,
    )


def _terminate_app_connections(db_name):
    """End the app servers' connections to the test database (never anyone else's)."""
    if connection.vendor != "postgresql":
        return
    import psycopg

    with contextlib.suppress(psycopg.Error), pg_connect() as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND application_name = %s",
            [db_name, APP_NAME],
        )


def _delete_cache_prefix(prefix):
    if not settings.REDIS_URL:
        return
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def launch(static_root, tmp_path):
    """Start app servers: `launch("a", "b", **env)` -> [AppServer, ...], all ready.

    Servers of one call share SECRET_KEY, database (the pytest-django test database unless
    DATABASE_URL is given), Redis (the tests' REDIS_URL, when set) and a cache key prefix
    unique to the call. They are stopped, and their database connections ended, afterwards.
    """
    started, prefixes = [], []

    def start(*names, workers=2, ready=(200,), **env):
        prefix = f"reliability-{secrets.token_hex(6)}"
        prefixes.append(prefix)
        base = {
            "RELIABILITY_STATIC_ROOT": str(static_root),
            "CACHE_KEY_PREFIX": prefix,
        }
        if settings.REDIS_URL:
            base["REDIS_URL"] = settings.REDIS_URL
        env = {
            "DATABASE_URL": database_url(settings.DATABASES["default"]),
            **base,
            **env,
        }
        secret = env.pop("SECRET_KEY", None) or random_secret()
        url = env.pop("DATABASE_URL")
        servers = [
            AppServer(
                production_env(database_url=url, secret_key=secret, **env),
                workers=workers,
                log_dir=tmp_path,
                name=name,
            )
            for name in names
        ]
        started.extend(servers)
        for server in servers:
            server.start()
        for server in servers:
            server.wait_ready(statuses=ready)
        return servers

    start.prefixes = prefixes
    yield start
    for server in started:
        server.begin_stop()
    for server in started:
        server.stop()
    _terminate_app_connections(settings.DATABASES["default"]["NAME"])
    for prefix in prefixes:
        _delete_cache_prefix(prefix)


@pytest.fixture
def make_account(roles):
    """Create an account whose password the app servers can check.

    The test process hashes with MD5 (fast tests); production servers only accept their own
    hashers. A PBKDF2 hash with few iterations is accepted (and upgraded on first sign-in).
    """
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from tests.conftest import PASSWORD, confirmed_device
    from tests.factories import UserFactory

    def make(username, role=None):
        user = UserFactory(username=username, role=role)
        hasher = PBKDF2PasswordHasher()
        user.password = hasher.encode(PASSWORD, hasher.salt(), iterations=1000)
        user.save(update_fields=["password"])
        if role:  # an account with a role signs in with a second factor too
            confirmed_device(user)
        return user

    return make


@pytest.fixture(scope="session")
def demo_sqlite_url(tmp_path_factory):
    """A migrated SQLite file holding data/demo, for app servers that need no test database."""
    import subprocess
    import sys

    from tests.reliability.servers import ROOT

    url = f"sqlite:///{tmp_path_factory.mktemp('demo-db') / 'portal.sqlite3'}"
    env = production_env(database_url=url, secret_key=random_secret())
    script = (
        "from django.core.management import call_command as c; "
        "c('migrate', interactive=False, verbosity=0); c('import_mitigations', 'data/demo')"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=180,
    )
    return url
