"""Security headers on every kind of response, as production serves them.

Why real app servers and not `override_settings` + the test client: the headers depend on
settings evaluated at import time from the environment (DEBUG=false turns on HSTS, the
hashed static storage served by whitenoise, secure cookies), on the request really arriving
over https through a proxy (HSTS is only sent then: X-Forwarded-Proto + TRUSTED_PROXY_COUNT)
and on which middleware a response passes through (whitenoise answers static files before
most of the stack; RequestLimitsMiddleware answers 413 itself; the 500/503 handler runs
inside the stack). So two gunicorn instances run in production mode behind a simulated TLS
proxy: one with a working database (a migrated SQLite file with data/demo: headers do not
depend on the database engine, and the test runs on both CI legs), one whose database is
unreachable, for real 503s.
"""

import re
import sqlite3

import pytest
from django.conf import settings

from tests.reliability.servers import (
    AppServer,
    Browser,
    production_env,
    random_secret,
)
from tests.reliability.urls import BOOM_PATH

PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
HEALTH_TOKEN = "reliability-health-token"
# The load balancer's deep check (a public caller gets a cheap answer instead).
DEEP = {"X-Healthz-Token": HEALTH_TOKEN}
ONE_YEAR = 365 * 24 * 60 * 60


def _env(database_url, static_root, **extra):
    return production_env(
        database_url=database_url,
        secret_key=random_secret(),
        RELIABILITY_STATIC_ROOT=str(static_root),
        # Production values: https only, behind one proxy, secure cookies.
        SECURE_SSL_REDIRECT="true",
        SECURE_COOKIES="true",
        TRUSTED_PROXY_COUNT="1",
        HEALTHZ_TOKEN=HEALTH_TOKEN,
        **extra,
    )


@pytest.fixture(scope="module")
def servers(static_root, demo_sqlite_url, tmp_path_factory):
    logs = tmp_path_factory.mktemp("header-logs")
    live = AppServer(_env(demo_sqlite_url, static_root), log_dir=logs, name="prod")
    dead = AppServer(
        _env("postgres://portal@127.0.0.1:1/nowhere", static_root, DB_CONNECT_TIMEOUT="1"),
        log_dir=logs,
        name="db-down",
    )
    try:
        live.start(), dead.start()
        live.wait_ready(), dead.wait_ready(statuses=(503,))
        yield {"live": live, "dead": dead}
    finally:
        dead.begin_stop(), live.begin_stop()
        dead.stop(), live.stop()


@pytest.fixture(scope="module")
def demo_slug(demo_sqlite_url):
    with sqlite3.connect(demo_sqlite_url.removeprefix("sqlite:///")) as db:
        return db.execute(
            "SELECT slug FROM mitigations_mitigation WHERE status = 'published' LIMIT 1"
        ).fetchone()[0]


def static_url(servers, suffix):
    """A static file's URL as the pages link it (the hashed name in production)."""
    home = Browser(servers["live"].url, headers=PROXY).get("/").text
    found = re.search(rf'(?:href|src)="(/static/[^"]+{re.escape(suffix)})"', home)
    assert found, f"no {suffix} linked from the home page"
    return found.group(1)


# kind -> (server, method, path or callable, extra headers, expected status)
KINDS = {
    "html home page": ("live", "GET", "/", {}, 200),
    "html mitigation page": ("live", "GET", lambda s, slug: f"/mitigations/{slug}/", {}, 200),
    "404": ("live", "GET", "/no/such/page/", {}, 404),
    "403 csrf failure": ("live", "POST", "/feedback/", {}, 403),
    "413 body too large": (
        "live",
        "POST",
        "/feedback/",
        {"Content-Length": str(settings.MAX_REQUEST_BODY + 1)},
        413,
    ),
    "400 disallowed host": ("live", "GET", "/", {"Host": "evil.example"}, 400),
    "500": ("live", "GET", f"/{BOOM_PATH}", {}, 500),
    "503 page, database down": ("dead", "GET", "/mitigations/", {}, 503),
    "503 healthz, database down": ("dead", "GET", "/healthz", DEEP, 503),
    "json export": ("live", "GET", "/mitigations/export.json", {}, 200),
    "csv export": ("live", "GET", "/mitigations/export.csv", {}, 200),
    "atom feed": ("live", "GET", "/mitigations/feed.atom", {}, 200),
    "sitemap": ("live", "GET", "/sitemap.xml", {}, 200),
    "static css (whitenoise)": ("live", "GET", lambda s, slug: static_url(s, ".css"), {}, 200),
    "static svg (whitenoise)": ("live", "GET", lambda s, slug: static_url(s, ".svg"), {}, 200),
    "healthz": ("live", "GET", "/healthz", DEEP, 200),
    "healthz, public caller": ("dead", "GET", "/healthz", {}, 200),
    "admin login": ("live", "GET", "/admin/login/", {}, 200),
    "sign-in page": ("live", "GET", "/accounts/signin/", {}, 200),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_of_response_carries_the_security_headers(servers, demo_slug, kind):
    server, method, path, extra, status = KINDS[kind]
    if callable(path):
        path = path(servers, demo_slug)
    browser = Browser(servers[server].url, headers=PROXY)
    response = browser.request(method, path, headers=extra)
    assert response.status == status, (response.status, response.text[:500])
    headers = response.header_dict()

    csp = headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp, headers
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    hsts = headers.get("strict-transport-security", "")
    assert int(re.search(r"max-age=(\d+)", hsts).group(1)) >= ONE_YEAR, headers
    assert "includeSubDomains" in hsts
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("referrer-policy") in ("same-origin", "no-referrer")
    assert "camera=()" in headers.get("permissions-policy", ""), headers
    # Framing: CSP frame-ancestors 'none' (above) and X-Frame-Options for older browsers.
    assert headers.get("x-frame-options") == "DENY"


def test_plain_http_is_redirected_to_https_without_hsts(servers):
    """Without the proxy's https marker the app redirects; HSTS is only sent over https."""
    response = Browser(servers["live"].url).get("/mitigations/")
    assert response.status == 301
    assert response.location.startswith("https://")
    assert "strict-transport-security" not in response.header_dict()
