"""Database faults under load: every database connection of the app is killed, repeatedly.

A gunicorn instance (2 workers, persistent connections) serves 4 visitors who keep reading
pages and sending feedback for a few seconds while the test terminates every backend of the
test database several times. The visitors see success or "503, try again", never a 500 or a
dropped connection; the app recovers on its own; feedback acknowledged with the redirect to
the thank-you page is in the database. bench/faults.py does the same and restarts PostgreSQL.
"""

import time

import pytest
from django.db import connection

from feedback.models import Feedback
from tests.factories import FigureFactory, MitigationFactory
from tests.reliability.conftest import needs_postgres
from tests.reliability.servers import Browser, Load

pytestmark = [pytest.mark.postgres, needs_postgres, pytest.mark.django_db(transaction=True)]

VISITORS = 4
LOAD_SECONDS = 5.0
KILLS_AT = (1.0, 2.0, 3.0, 3.8)  # seconds after the load starts
RECOVERY_SECONDS = 3.0


def terminate_app_connections() -> int:
    """Kill every other backend connected to the test database (the app's connections)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_killing_the_apps_database_connections_gives_503s_and_loses_nothing(launch, roles):
    page = MitigationFactory(code="F100", name="Fault tolerant page")
    FigureFactory(mitigation=page)
    for n in range(5):
        MitigationFactory(code=f"F{200 + n}")
    (server,) = launch("a", RELIABILITY_FEEDBACK_RATE_LIMITS="{}")
    pages = [
        page.get_absolute_url(),
        "/mitigations/",
        "/mitigations/?q=fault",
        "/mitigations/export.json",
        "/",
    ]
    load = Load(server.url, pages, f"/feedback/on/{page.code}/").start(VISITORS)
    kills = []
    try:
        for at in KILLS_AT:
            time.sleep(max(0.0, at - load.now()))
            kills.append((load.now(), terminate_app_connections()))
        time.sleep(max(0.0, LOAD_SECONDS - load.now()))
    finally:
        load.finish()

    outcomes = load.outcomes()
    log = server.log()
    summary = f"outcomes={outcomes} kills={kills}\n{log[-5000:]}"
    # Connections were really killed, and the visitors kept going throughout.
    assert all(n >= 1 for _, n in kills), summary
    assert len(load.results) > 50, summary
    # Success or 503 (the 503 page, with Retry-After), never a 500 or a dropped connection.
    assert set(outcomes) <= {200, 302, 503}, summary
    assert load.bad_503s == [], load.bad_503s[:3]
    assert "Internal Server Error" not in log, summary

    # It recovers by itself: after the last kill, every kind of request succeeds again soon,
    # and each visitor's last request of each kind succeeded.
    last_kill = kills[-1][0]
    for what in ("page", "form", "post"):
        waited = load.first_success_after(last_kill, what)
        assert waited is not None and waited < RECOVERY_SECONDS, (what, summary)
    for path in pages:
        assert Browser(server.url).get(path).status == 200

    # Every acknowledged feedback is stored, once, with the token the visitor was given.
    assert len(load.acknowledged) > 10, summary
    stored = dict(
        Feedback.objects.filter(comment__in=list(load.acknowledged)).values_list("comment", "token")
    )
    assert stored == load.acknowledged
