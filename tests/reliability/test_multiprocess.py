"""Several app processes, one database: what a load balancer in front of them relies on.

Two real gunicorn instances (2 workers each) in production mode share the PostgreSQL test
database, one Redis and one SECRET_KEY. A visitor may land on either for every request.
"""

import json

import pytest

from feedback.models import Feedback
from mitigations.models import Mitigation
from tests.conftest import PASSWORD
from tests.factories import FigureFactory, MitigationFactory
from tests.reliability.conftest import needs_postgres, needs_redis
from tests.reliability.servers import Browser, feedback_form, form_by_id

pytestmark = [
    pytest.mark.postgres,
    needs_postgres,
    needs_redis,
    pytest.mark.django_db(transaction=True),
]

SECRET_LABEL = "Zanzibarpreliminary share of experts"


@pytest.fixture
def page(roles):
    mitigation = MitigationFactory(
        code="R100", name="Shared state mitigation", definition="The first definition."
    )
    FigureFactory(mitigation=mitigation, label=SECRET_LABEL, preliminary=True)
    return mitigation


def test_a_session_started_on_one_instance_works_on_the_other(launch, page, make_account):
    a, b = launch("a", "b")
    make_account("rhea-reviewer", "reviewer")
    url = page.get_absolute_url()
    assert SECRET_LABEL not in Browser(b.url).get(url).text  # anonymous: withheld

    visitor = Browser(a.url)
    visitor.sign_in("rhea-reviewer", PASSWORD)
    # The same cookies, now sent to the other instance.
    visitor_on_b = Browser(b.url)
    visitor_on_b.cookies = dict(visitor.cookies)
    detail = visitor_on_b.get(url)
    assert detail.status == 200
    assert SECRET_LABEL in detail.text
    account = visitor_on_b.get("/accounts/")
    assert account.status == 200 and "rhea-reviewer" in account.text

    # Signing out on B ends the session everywhere.
    assert visitor_on_b.post("/accounts/signout/", {}).status == 302
    back_on_a = visitor.get("/accounts/")
    assert back_on_a.status == 302 and "/accounts/signin/" in back_on_a.location
    assert SECRET_LABEL not in visitor.get(url).text


def test_rate_limits_are_global_across_instances(launch, page):
    limit = 5
    # One fixed window far longer than the test, so that no window boundary resets the count.
    limits = {"ip": [[limit, 10**9]]}
    a, b = launch("a", "b", RELIABILITY_FEEDBACK_RATE_LIMITS=json.dumps(limits))
    path = f"/feedback/on/{page.code}/"
    statuses = []
    for i in range(limit + 3):
        # A new visitor (no cookies in common) on alternating instances: only the client
        # address (all 127.0.0.1 here) ties the requests together.
        browser = Browser((a, b)[i % 2].url)
        form = feedback_form(browser.get(path).text)
        form.set("section", "definition")
        form.set("kind", "error")
        form.set("comment", f"Feedback number {i}.")
        response = browser.post(path, form.fields)
        statuses.append(response.status)
        if response.status == 429:
            assert int(response.headers["Retry-After"]) > 0
    # 2 instances x 2 workers: with per-process counting all 8 would have passed.
    assert statuses == [302] * limit + [429] * 3
    assert Feedback.objects.count() == limit


def _edit_from_this_process(settings, launch, page, definition):
    """Save the page through the ORM from this process (like a command or a worker), with
    the servers' Redis and key prefix: the versions it bumps are theirs."""
    settings.CACHES = {
        "default": {
            "BACKEND": "portal.lib.redis_cache.DegradingRedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": launch.prefixes[-1],
        }
    }
    page.refresh_from_db()
    page.definition = definition
    page.save()


def test_an_edit_through_one_instance_is_fresh_on_the_other(launch, page, make_account, settings):
    a, b = launch("a", "b")
    url = page.get_absolute_url()
    reader_a, reader_b = Browser(a.url), Browser(b.url)
    assert "The first definition." in reader_a.get(url).text  # rendered and cached by A

    # The page cache is shared: a change that bypasses the signals (no version bump) is not
    # seen by anonymous readers of B, who get A's cached rendering.
    Mitigation.objects.filter(pk=page.pk).update(definition="Changed behind the cache's back.")
    if settings.PAGE_CACHE_SECONDS:
        assert "The first definition." in reader_b.get(url).text
    else:  # CI's pass without the page cache: every page is rendered, the change shows
        assert "Changed behind the cache&#x27;s back." in reader_b.get(url).text

    # An editor changes the page in the admin of A ...
    make_account("edna-editor", "editor")
    editor = Browser(a.url)
    editor.sign_in("edna-editor", PASSWORD)
    change = f"/admin/mitigations/mitigation/{page.pk}/change/"
    form = form_by_id(editor.get(change).text, "mitigation_form")
    assert form.get("definition") == "Changed behind the cache's back."
    form.set("definition", "The definition edited in the admin of A.")
    form.set("_save", "Save")
    saved = editor.post(change, form.fields)
    assert saved.status == 302, saved.text[:3000]
    # ... and anonymous readers of B see it at once (the data version lives in Redis).
    assert "The definition edited in the admin of A." in reader_b.get(url).text
    assert "The definition edited in the admin of A." in reader_a.get(url).text

    # A third process (a management command, a worker: here the test process) that saves
    # through the ORM with the same cache settings invalidates the servers' pages too.
    _edit_from_this_process(settings, launch, page, "The definition saved by another process.")
    for reader in (reader_a, reader_b):
        assert "The definition saved by another process." in reader.get(url).text


def test_signed_in_pages_are_fresh_on_every_instance(launch, page, make_account, settings):
    """Signed-in users get renderings of their own on every instance: an edit, and a role
    taken away, through one process must show on the other at once."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from portal.lib import access

    a, b = launch("a", "b")
    url = page.get_absolute_url()
    make_account("rhea-reviewer", "reviewer")
    make_account("ruth-reviewer", "reviewer")
    rhea, ruth = Browser(a.url), Browser(b.url)
    rhea.sign_in("rhea-reviewer", PASSWORD)
    ruth.sign_in("ruth-reviewer", PASSWORD)
    first = rhea.get(url).text  # rendered by A for Rhea
    assert SECRET_LABEL in first and "rhea-reviewer" in first
    shared = ruth.get(url).text  # rendered by B for Ruth
    assert SECRET_LABEL in shared and "ruth-reviewer" in shared and "rhea-reviewer" not in shared

    # Another process (the test process, same Redis and prefix) edits the page and takes
    # Ruth's role away; both instances see it on the next request.
    _edit_from_this_process(settings, launch, page, "Edited while reviewers had it cached.")
    for reviewer in (rhea, ruth):
        assert "Edited while reviewers had it cached." in reviewer.get(url).text
    get_user_model().objects.get(username="ruth-reviewer").groups.remove(
        Group.objects.get(name=access.group_name(access.REVIEWER))
    )
    for base in (a.url, b.url):
        ruth_there = Browser(base)
        ruth_there.cookies = dict(ruth.cookies)
        assert SECRET_LABEL not in ruth_there.get(url).text
    assert SECRET_LABEL in rhea.get(url).text
