"""Redis down: the shared cache only holds caches, so an outage degrades the site (every call
a miss: pages rendered, sessions and permissions read from the database, rate limits counted
in the database) instead of taking it down, and the cache is used again as soon as Redis is
back.

Three levels: the cache backend itself (portal/lib/redis_cache.py) against a port nobody
listens on, a socket that never answers and a private redis-server that is stopped and
started again; the site in-process with its cache pointed at a dead Redis; and a gunicorn
instance in production mode whose own Redis is paused, killed and started again.
"""

import json
import logging
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import cache as default_cache
from django.test import Client

from feedback.models import Feedback
from portal.accounts import second_factor
from portal.lib.redis_cache import DegradingRedisCache
from tests.conftest import PASSWORD, confirmed_device, verify_session
from tests.factories import FigureFactory, MitigationFactory
from tests.feedback.conftest import hidden_fields
from tests.reliability.servers import (
    ROOT,
    Browser,
    RedisServer,
    feedback_form,
    free_port,
    production_env,
    random_secret,
)

needs_redis_server = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs the redis-server binary"
)
LOGGER = "portal.lib.redis_cache"


def backend(url, **options):
    return DegradingRedisCache(url, {"KEY_PREFIX": "outage-test", "OPTIONS": options})


def dead_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # a free port: connection refused


def warnings_of(caplog, text):
    return [
        r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING
        and text in r.getMessage()
    ]  # fmt: skip


# --- The backend -----------------------------------------------------------------------------


def test_every_call_is_a_miss_while_redis_is_down():
    cache = backend(dead_url())
    began = time.monotonic()
    assert cache.get("k") is None
    assert cache.get("k", "default") == "default"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.set("k", 1) is None
    assert cache.add("k", 1) is False
    assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]  # none stored
    assert cache.delete("k") is False
    assert cache.delete_many(["a", "b"]) is None
    assert cache.touch("k") is False
    assert cache.has_key("k") is False
    assert "k" not in cache
    assert cache.get_or_set("k", lambda: "computed") == "computed"
    with pytest.raises(ValueError, match="not found"):
        cache.incr("k")
    with pytest.raises(ValueError, match="not found"):
        cache.decr("k")
    assert cache.count_and_read([("a", 60), ("b", 60)], ["c"]) == ([None, None], {})
    assert cache.clear() is False
    assert cache.ping() is False
    assert not cache.available
    assert time.monotonic() - began < 1


def test_an_outage_is_logged_once_not_per_call_and_redis_is_left_alone_between_retries(
    caplog, monkeypatch
):
    cache = backend(dead_url(), unavailable_retry_seconds=0.3)
    attempts = []
    get_client = cache.client.get_client

    def counting(*args, **kwargs):
        attempts.append(time.monotonic())
        return get_client(*args, **kwargs)

    monkeypatch.setattr(cache.client, "get_client", counting)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    for _ in range(200):
        assert cache.get("k") is None
    assert len(attempts) == 1  # one failure, then 199 misses without touching Redis
    time.sleep(0.35)
    for _ in range(50):
        cache.get("k")
    assert len(attempts) == 2  # one probe per retry window
    assert len(warnings_of(caplog, "cache unavailable")) == 1
    assert len(warnings_of(caplog, "still unavailable")) == 0


def test_threads_of_a_process_share_what_they_know_about_redis():
    """Django gives each thread its own cache object: they must not each find out alone."""
    url = dead_url()
    first, second = backend(url), backend(url)
    first.get("k")
    assert not first.available and not second.available


def test_a_hung_redis_costs_one_short_timeout_per_retry_window():
    """A host that accepts connections and never answers (a paused Redis, a dead network):
    the socket timeout bounds the first call; later calls in the window do not wait."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)  # the kernel completes the handshake; nobody ever reads
        cache = backend(f"redis://127.0.0.1:{hung.getsockname()[1]}/0")
        began = time.monotonic()
        assert cache.get("k") is None
        first = time.monotonic() - began
        began = time.monotonic()
        for _ in range(100):
            assert cache.get("k") is None
        rest = time.monotonic() - began
    assert 0.2 < first < 1.5, first  # socket_timeout 0.5 s (settings: 0.25 s to connect)
    assert rest < 0.1, rest


@needs_redis_server
def test_the_cache_is_used_again_as_soon_as_redis_is_back(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger=LOGGER)
    redis = RedisServer(tmp_path).start()
    try:
        cache = backend(redis.url, unavailable_retry_seconds=0.2)
        cache.set("k", "before")
        assert cache.get("k") == "before"
        assert cache.ping() and cache.available

        redis.stop()
        assert cache.get("k") is None
        assert cache.add("k", 1) is False
        assert not cache.available

        redis.start()  # the same port, empty (no persistence)
        deadline = time.monotonic() + 5
        while not cache.add("k", "after") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cache.get("k") == "after"
        assert cache.add("n", 1) and cache.incr("n") == 2  # counters work again
        assert cache.available
        assert redis.keys("outage-test:*")
        assert len(warnings_of(caplog, "cache unavailable")) == 1
        assert len(warnings_of(caplog, "available again")) == 1
    finally:
        redis.stop()


@needs_redis_server
def test_writes_dropped_during_an_outage_are_not_served_stale_afterwards(tmp_path, caplog):
    """Redis kept its data through the outage (hung, partitioned): what was replaced or
    deleted meanwhile must not come back from it."""
    caplog.set_level(logging.WARNING, logger=LOGGER)
    redis = RedisServer(tmp_path).start()
    try:
        cache = backend(redis.url, unavailable_retry_seconds=0.2)
        cache.set("data-version", "v1", None)
        cache.set_many({"user:1": "active", "page": "old rendering"}, 300)
        cache.set("untouched", "kept", 300)

        redis.pause()  # SIGSTOP: the data stays in memory
        cache.set("data-version", "v2", None)  # an edit bumps the version: dropped
        cache.delete("user:1")  # the user was deactivated: dropped
        cache.set("page", "new rendering", 300)
        assert cache.get("data-version") is None and not cache.available
        redis.resume()

        deadline = time.monotonic() + 5
        while not cache.available and time.monotonic() < deadline:
            cache.get("untouched")
            time.sleep(0.05)
        assert cache.available
        assert cache.get("data-version") is None  # not "v1": readers make a new version
        assert cache.get("user:1") is None  # not "active"
        assert cache.get("page") is None  # not "old rendering"
        assert cache.get("untouched") == "kept"
        [recovered] = warnings_of(caplog, "available again")
        assert "3 keys written or deleted meanwhile were removed" in recovered.getMessage()
    finally:
        redis.stop()


@needs_redis_server
def test_incr_is_one_atomic_round_trip_and_never_creates_a_key(tmp_path):
    redis = RedisServer(tmp_path).start()
    try:
        cache = backend(redis.url, unavailable_retry_seconds=0.2)
        deadline = time.monotonic() + 5  # (this port may have been a stopped Redis before)
        while not cache.ping():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(ValueError):
            cache.incr("missing")
        assert cache.available  # a missing key, not an outage
        assert not redis.keys("outage-test:*missing*")  # not created (Django's INCRBY would)
        cache.add("window", 1, 60)
        sent = []
        client = cache.client.get_client(write=True)
        original = client.execute_command

        def counting(*args, **kwargs):
            sent.append(args[0])
            return original(*args, **kwargs)

        client.execute_command = counting
        try:
            assert cache.incr("window", 2) == 3
        finally:
            del client.execute_command
        assert sent == ["EVALSHA"]  # one command: no EXISTS before the increment
        assert 0 < redis.client().ttl(cache.make_and_validate_key("window")) <= 60
    finally:
        redis.stop()


@needs_redis_server
def test_count_and_read_is_one_atomic_round_trip(tmp_path):
    """The feedback rate limits count their windows and read the data version at once."""
    redis = RedisServer(tmp_path).start()
    try:
        cache = backend(redis.url, unavailable_retry_seconds=0.2)
        deadline = time.monotonic() + 5  # (this port may have been a stopped Redis before)
        while not cache.ping():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        cache.add("old", 5, 60)  # a counter an earlier count() made
        cache.set("version", "v1")
        cache.count_and_read([("first", 60)])  # loads the script (once per process)
        sent = []
        client = cache.client.get_client(write=True)
        original = client.execute_command

        def counting(*args, **kwargs):
            sent.append(args[0])
            return original(*args, **kwargs)

        client.execute_command = counting
        try:
            found = cache.count_and_read([("new", 30), ("old", 60)], ["version", "none"])
            assert found == ([1, 6], {"version": "v1"})
            assert cache.count_and_read([("new", 30)]) == ([2], {})
        finally:
            del client.execute_command
        assert sent == ["EVALSHA", "EVALSHA"]
        assert 0 < redis.client().ttl(cache.make_and_validate_key("new")) <= 30
        assert cache.incr("new") == 3  # the same counters as incr's and add's
    finally:
        redis.stop()


@needs_redis_server
def test_errors_that_are_not_an_outage_still_raise(tmp_path):
    import redis as redis_lib

    redis = RedisServer(tmp_path).start()
    try:
        cache = backend(redis.url)
        cache.set("word", "not a number")
        with pytest.raises(redis_lib.exceptions.ResponseError):
            cache.incr("word")  # a bug in the caller, not an unavailable cache
        assert cache.available
    finally:
        redis.stop()


# --- The site, in-process, with its cache pointed at a dead Redis ---------------------------


@pytest.fixture
def dead_cache(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "portal.lib.redis_cache.DegradingRedisCache",
            "LOCATION": dead_url(),
            "KEY_PREFIX": "outage-test",
        }
    }
    settings.FEEDBACK_MIN_SECONDS = 0
    settings.EDITORS_EMAIL = []
    assert isinstance(default_cache._connections["default"], DegradingRedisCache)
    return default_cache


@pytest.fixture
def catalogue(db):
    page = MitigationFactory(code="C100", name="Cache outage page")
    FigureFactory(mitigation=page, label="Withheld figure", preliminary=True)
    return page


def post_feedback(client, path, comment):
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    data = {**hidden_fields(page.text), "section": "definition", "kind": "error"}
    data["comment"] = comment
    return client.post(path, data)


@pytest.mark.usefixtures("role_groups")
def test_every_kind_of_visitor_is_served_while_the_cache_is_down(
    dead_cache, catalogue, reviewer, editor
):
    assert not default_cache.ping()
    detail = catalogue.get_absolute_url()
    pages = {
        "anonymous": (Client(), ["/", "/mitigations/", "/mitigations/?q=cache", detail]),
        "reviewer": (Client(), ["/", "/mitigations/", detail, "/accounts/", "/feedback/"]),
        "editor": (
            Client(),
            [
                "/admin/",
                "/admin/feedback/feedback/",
                "/admin/mitigations/mitigation/",
                f"/admin/mitigations/mitigation/{catalogue.pk}/change/",
                detail,
            ],
        ),
    }
    for who, user in (("reviewer", reviewer), ("editor", editor)):
        client = pages[who][0]
        signed_in = client.post(
            "/accounts/signin/", {"username": user.username, "password": PASSWORD}
        )
        assert signed_in.status_code == 302, (who, signed_in.status_code)
        # The second factor works without the cache too (its limits cannot count then).
        code = second_factor.fresh_code(confirmed_device(user))
        verified = client.post(signed_in["Location"], {"code": code})
        assert verified.status_code == 302, (who, verified.status_code)
    for who, (client, paths) in pages.items():
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, (who, path, response.status_code)
    # The policy still applies without its cached answers.
    assert "Withheld figure" in pages["reviewer"][0].get(detail).text
    assert "Withheld figure" not in pages["anonymous"][0].get(detail).text


@pytest.mark.usefixtures("role_groups")
def test_feedback_is_stored_and_rate_limited_from_the_database_while_the_cache_is_down(
    dead_cache, catalogue, settings, reviewer
):
    settings.FEEDBACK_RATE_LIMITS = {"ip": [(2, 60), (30, 86400)], "user": [(3, 60)]}
    visitor = Client()
    path = f"/feedback/on/{catalogue.code}/"
    for n in range(2):
        sent = post_feedback(visitor, path, f"Anonymous feedback {n} during the outage.")
        assert sent.status_code == 302 and "/feedback/thanks/" in sent["Location"]
    limited = post_feedback(visitor, path, "One too many.")
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= 61
    assert Feedback.objects.filter(user=None).count() == 2

    # Accounts are counted by account, not by address.
    member = Client()
    member.force_login(reviewer)
    verify_session(member, reviewer)
    statuses = [
        post_feedback(member, path, f"Reviewer feedback {n}.").status_code for n in range(4)
    ]
    assert statuses == [302, 302, 302, 429]
    assert Feedback.objects.filter(user=reviewer).count() == 3


def test_healthz_stays_200_and_reports_the_cache(dead_cache, db):
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": "ok", "cache": "unavailable"}


# --- A real app server whose Redis goes away and comes back ---------------------------------

ACCOUNTS_SCRIPT = """
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import Group
from django_otp.plugins.otp_totp.models import TOTPDevice
from portal.lib import access
TOTP_KEYS = {totp_keys!r}

access.sync_roles()
hasher = PBKDF2PasswordHasher()
for name, role in [("rita-reviewer", "reviewer"), ("eddie-editor", "editor")]:
    user = get_user_model().objects.create(
        username=name,
        email=name + "@example.org",
        is_staff=role in access.STAFF_ROLES,
        password=hasher.encode({password!r}, hasher.salt(), iterations=1000),
    )
    user.groups.add(Group.objects.get(name=access.group_name(role)))
    TOTPDevice.objects.create(user=user, name="app", key=TOTP_KEYS[name], confirmed=True)
"""
# The accounts' authenticator secrets (hex), so that the test can compute their codes.
TOTP_KEYS = {
    "rita-reviewer": b"rita-reviewer-secret".hex(),
    "eddie-editor": b"eddie-editor-secret!".hex(),
}


@pytest.fixture
def outage_db(demo_sqlite_url, tmp_path):
    """A copy of the demo database with a reviewer and an editor (password PASSWORD)."""
    source = demo_sqlite_url.removeprefix("sqlite:///")
    target = tmp_path / "outage.sqlite3"
    with sqlite3.connect(source) as original, sqlite3.connect(target) as copy:
        original.backup(copy)
    url = f"sqlite:///{target}"
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            ACCOUNTS_SCRIPT.format(password=PASSWORD, totp_keys=TOTP_KEYS),
        ],
        cwd=ROOT,
        env=production_env(database_url=url, secret_key=random_secret()),
        check=True,
        capture_output=True,
        timeout=120,
    )
    return target


def timed(browser, method, path, data=None):
    began = time.monotonic()
    response = browser.post(path, data) if method == "POST" else browser.get(path)
    return response, time.monotonic() - began


class Visits:
    """Requests of one phase: every answer and how long it took."""

    def __init__(self):
        self.seconds: list[float] = []

    def get(self, browser, path, expect=200):
        response, took = timed(browser, "GET", path)
        self.seconds.append(took)
        assert response.status == expect, (path, response.status, response.text[:300])
        return response

    def post(self, browser, path, data):
        response, took = timed(browser, "POST", path, data)
        self.seconds.append(took)
        return response

    def summary(self) -> str:
        s = sorted(self.seconds)
        return (
            f"{len(s)} requests, median {statistics.median(s) * 1000:.0f} ms, "
            f"max {s[-1] * 1000:.0f} ms"
        )


def send_feedback(visits, browser, path, comment):
    form = feedback_form(visits.get(browser, path).text)
    form.set("section", "definition")
    form.set("kind", "error")
    form.set("comment", comment)
    return visits.post(browser, path, form.fields)


def stored_comments(db_path) -> set[str]:
    with sqlite3.connect(db_path) as conn:
        return {row[0] for row in conn.execute("SELECT comment FROM feedback_feedback")}


@needs_redis_server
def test_a_redis_outage_degrades_the_site_and_it_recovers_without_a_restart(
    launch, outage_db, tmp_path, capsys
):
    redis = RedisServer(tmp_path).start()
    try:
        _run_outage_scenario(launch, outage_db, redis, capsys)
    finally:
        redis.stop()


def _run_outage_scenario(launch, outage_db, redis, capsys):
    limits = {"ip": [[3, 600]], "user": [[20, 60]]}
    (server,) = launch(
        "cache-outage",
        DATABASE_URL=f"sqlite:///{outage_db}",
        REDIS_URL=redis.url,
        RELIABILITY_FEEDBACK_RATE_LIMITS=json.dumps(limits),
    )
    anonymous, reviewer, editor = (Browser(server.url, timeout=10) for _ in range(3))
    warm = Visits()
    listing = warm.get(anonymous, "/mitigations/").text
    detail = re.search(r'href="(/mitigations/[a-z0-9-]+/)"', listing).group(1)
    reviewer.sign_in("rita-reviewer", PASSWORD, totp_key=TOTP_KEYS["rita-reviewer"])
    editor.sign_in("eddie-editor", PASSWORD, totp_key=TOTP_KEYS["eddie-editor"])
    for browser, path in [(anonymous, detail), (reviewer, detail), (reviewer, "/accounts/")]:
        warm.get(browser, path)
    assert redis.keys()  # pages, sessions, permissions are in Redis
    health = json.loads(warm.get(anonymous, "/healthz").text)
    assert health == {"status": "ok", "database": "ok", "cache": "ok"}

    def browse(visits, *, new_visitor_signs_in):
        for path in ("/", "/mitigations/", "/mitigations/?q=model", detail, "/feedback/"):
            visits.get(anonymous, path)
        for path in ("/", "/mitigations/", detail, "/accounts/"):
            page = visits.get(reviewer, path)
        assert "rita-reviewer" in page.text
        for path in ("/admin/", "/admin/feedback/feedback/", "/admin/mitigations/mitigation/"):
            visits.get(editor, path)
        if new_visitor_signs_in:
            newcomer = Browser(server.url, timeout=10)
            newcomer.sign_in("eddie-editor", PASSWORD, totp_key=TOTP_KEYS["eddie-editor"])
            visits.get(newcomer, "/admin/")
        health = json.loads(visits.get(anonymous, "/healthz").text)  # still 200
        assert health == {"status": "degraded", "database": "ok", "cache": "unavailable"}

    # 1. Redis hangs (SIGSTOP: connections accepted, nothing answered).
    redis.pause()
    hung = Visits()
    browse(hung, new_visitor_signs_in=True)
    # 2. Redis is gone (connections refused).
    redis.resume()
    redis.stop()
    down = Visits()
    browse(down, new_visitor_signs_in=True)
    sent = [f"Sent during the Redis outage, number {n}." for n in range(4)]
    answers = [send_feedback(down, Browser(server.url), "/feedback/", c) for c in sent]
    statuses = [a.status for a in answers]
    # Limit 3 per address (all visitors are 127.0.0.1), counted in the database.
    assert statuses == [302, 302, 302, 429], statuses
    assert all("/feedback/thanks/" in a.location for a in answers[:3])
    assert int(answers[3].headers["Retry-After"]) > 0
    assert set(sent[:3]) <= stored_comments(outage_db)
    assert sent[3] not in stored_comments(outage_db)

    # 3. Redis is back (empty): the cache is used again, no restart.
    redis.start()
    back = Visits()
    deadline = time.monotonic() + 10
    while json.loads(back.get(anonymous, "/healthz").text)["cache"] != "ok":
        assert time.monotonic() < deadline, "the app did not notice that Redis is back"
        time.sleep(0.2)
    # Each worker finds out on its own, within a second: rendered pages and the session
    # cache are in Redis again.
    while not (redis.keys("*:portal:page:*") and redis.keys("*sessions.cached_db*")):
        assert time.monotonic() < deadline, redis.keys()
        for path in ("/mitigations/", detail):
            back.get(anonymous, path)
        back.get(reviewer, "/accounts/")

    # A worker that saw the outage says so once it reaches Redis again. Requests in pairs,
    # so that both workers serve some (one alone may take every sequential request).
    while "cache available again" not in server.log():
        assert time.monotonic() < deadline + 10, server.log()[-3000:]
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda path: Browser(server.url).get(path), ["/", "/mitigations/"]))
    log = server.log()
    assert "Internal Server Error" not in log
    # Rate-limited logging: at most one outage warning per worker (2) and outage phase.
    assert 1 <= log.count("cache unavailable (") <= 4, log[-3000:]
    all_visits = hung.seconds + down.seconds
    assert max(all_visits) < 3, sorted(all_visits)[-5:]
    with capsys.disabled():
        print(
            f"\nRedis outage, one gunicorn instance (2 workers): before {warm.summary()}; "
            f"Redis hung {hung.summary()}; Redis down {down.summary()}; "
            f"after it came back {back.summary()}"
        )
