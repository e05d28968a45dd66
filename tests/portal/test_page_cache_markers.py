"""Cached pages leave per-request values (CSRF token, form stamp) open as markers (the
viewer's name was one while signed-in users shared cached pages). User text must never be
taken for a marker: the old markers were plain text (`@@portal-fresh:csrf@@`), so a search
for it printed the visitor's CSRF token, and a reviewer comment holding the username marker
showed every viewer their own name.

Every payload is sent through each place user text reaches a page (search box and title,
feedback in the reviewers' thread, a display name, admin-edited Markdown); for anonymous
readers the second request is a cache hit, and the text must come out as written (escaped),
never filled.
"""

import pytest
from django.test import Client

from feedback.models import Feedback
from portal.lib import page_cache
from tests.conftest import verify_session
from tests.factories import FeedbackFactory, MitigationFactory, UserFactory

pytestmark = pytest.mark.django_db

OLD_PAYLOADS = ["@@portal-fresh:csrf@@", "@@portal-fresh:username@@"]


@pytest.fixture(autouse=True)
def _cache_on(settings):
    settings.PAGE_CACHE_SECONDS = 60


def _twice(client, url, **params):
    first = client.get(url, params).content.decode()
    second = client.get(url, params).content.decode()
    return first, second


def _signed_in(username, role):
    client = Client()
    user = UserFactory(username=username, role=role)
    client.force_login(user)
    verify_session(client, user)
    return client


@pytest.mark.parametrize("payload", OLD_PAYLOADS)
def test_search_text_is_never_filled_in(payload):
    MitigationFactory(name="Searchable page")
    for body in _twice(Client(), "/mitigations/", q=payload):
        assert f'value="{payload}"' in body  # the search box shows what was typed
        assert "csrfmiddlewaretoken" not in body or body.count(payload) >= 2  # title too


def test_a_real_marker_typed_by_a_visitor_is_escaped_not_filled():
    """Even someone who knew the per-deployment token cannot get a marker through: the
    templates escape `<`."""
    MitigationFactory(name="Searchable page")
    marker = page_cache._mark("csrf")
    for body in _twice(Client(), "/mitigations/", q=marker):
        assert marker.replace("<", "&lt;").replace(">", "&gt;") in body
        assert f'value="{marker}"' not in body


@pytest.mark.parametrize("payload", OLD_PAYLOADS)
def test_thread_text_and_names_are_never_filled_in(payload):
    page = MitigationFactory(name="Discussed page")
    author = UserFactory(username="author-rev", first_name=payload, role="reviewer")
    FeedbackFactory(
        mitigation=page,
        user=author,
        by_reviewer=True,
        status=Feedback.Status.APPROVED,
        comment=f"I think {payload} is wrong",
    )
    for viewer in ("rev-one", "rev-two"):
        body = _signed_in(viewer, "reviewer").get(page.get_absolute_url()).content.decode()
        assert f"I think {payload} is wrong" in body
        assert body.count(viewer) == 1


@pytest.mark.parametrize("payload", OLD_PAYLOADS)
def test_markdown_text_is_never_filled_in(payload):
    page = MitigationFactory(additional_information=f"Experts wrote **{payload}** here.")
    for body in _twice(Client(), page.get_absolute_url()):
        assert f"<strong>{payload}</strong>" in body


def test_markers_are_per_deployment(settings):
    first = page_cache._mark("csrf")
    page_cache._marker_token.cache_clear()
    page_cache._mark_re.cache_clear()
    settings.SECRET_KEY = "another-deployment-" + "x" * 50
    try:
        assert page_cache._mark("csrf") != first
    finally:
        page_cache._marker_token.cache_clear()
        page_cache._mark_re.cache_clear()
