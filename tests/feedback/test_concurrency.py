"""Many simultaneous submissions through a real server (PostgreSQL only: real concurrency)."""

import http.client
import re
import threading
from urllib.parse import urlencode, urlsplit

import pytest
from django.db import connection

from feedback.models import Feedback
from tests.factories import MitigationFactory
from tests.feedback.conftest import hidden_fields

THREADS, PER_THREAD = 20, 25

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]


class Browser:
    """One visitor: a keep-alive connection with its own CSRF cookie."""

    def __init__(self, live_server):
        url = urlsplit(live_server.url)
        self.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        self.cookie = ""

    def get_form(self, path):
        self.conn.request("GET", path, headers={"Cookie": self.cookie})
        response = self.conn.getresponse()
        body = response.read().decode()
        assert response.status == 200, response.status
        found = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie") or "")
        if found:
            self.cookie = f"csrftoken={found.group(1)}"
        return hidden_fields(body)

    def post(self, path, data):
        self.conn.request(
            "POST",
            path,
            body=urlencode(data),
            headers={
                "Cookie": self.cookie,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        response = self.conn.getresponse()
        response.read()
        return response.status, response.getheader("Location")


def _run(threads):
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)


@pytest.fixture
def server(live_server, settings):
    settings.FEEDBACK_MIN_SECONDS = 0
    settings.FEEDBACK_RATE_LIMITS = {}
    return live_server


def test_twenty_threads_submit_five_hundred_rows(server):
    mitigation = MitigationFactory()
    path = f"/feedback/on/{mitigation.code}/"
    statuses, errors = [], []

    def visitor(n):
        try:
            browser = Browser(server)
            for i in range(PER_THREAD):
                data = browser.get_form(path)
                data.update(section="definition", kind="error", comment=f"Visitor {n}, note {i}.")
                statuses.append(browser.post(path, data)[0])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    _run([threading.Thread(target=visitor, args=(n,)) for n in range(THREADS)])
    assert errors == []
    assert len(statuses) == THREADS * PER_THREAD
    assert not [s for s in statuses if s >= 500]
    assert set(statuses) == {302}
    assert Feedback.objects.count() == THREADS * PER_THREAD
    assert Feedback.objects.values("submission_id").distinct().count() == THREADS * PER_THREAD


def test_the_same_form_sent_at_once_by_ten_threads_is_stored_once(server):
    mitigation = MitigationFactory()
    path = f"/feedback/on/{mitigation.code}/"
    browser = Browser(server)
    data = browser.get_form(path)
    data.update(section="definition", kind="error", comment="Sent ten times at once.")
    start = threading.Barrier(10)
    results, errors = [], []

    def click():
        try:
            same = Browser(server)
            same.cookie = browser.cookie
            start.wait()
            results.append(same.post(path, data))
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))

    _run([threading.Thread(target=click) for _ in range(10)])
    assert errors == []
    assert {status for status, _ in results} == {302}
    item = Feedback.objects.get()
    assert {location for _, location in results} == {f"/feedback/thanks/{item.token}/"}
