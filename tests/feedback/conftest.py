"""Fixtures for the feedback tests: a page, and helpers that fill the form like a browser."""

import re

import pytest

from tests.factories import MitigationFactory

HIDDEN = re.compile(r'<input type="hidden" name="(?P<name>[^"]+)" value="(?P<value>[^"]*)"')


@pytest.fixture(autouse=True)
def _feedback_settings(settings):
    # Forms are sent at once by the tests; the tests of the minimum time set it themselves.
    settings.FEEDBACK_MIN_SECONDS = 0
    settings.EDITORS_EMAIL = []
    settings.PAGE_CACHE_SECONDS = 60


@pytest.fixture
def mitigation(db):
    return MitigationFactory(name="Refusal training", code="T0001")


def hidden_fields(html: str) -> dict:
    """The hidden inputs of the feedback form (stamp, page, csrf) as a browser would send."""
    start = html.index('class="feedback-form"')
    form = html[start : html.index("</form>", start)]
    return {m["name"]: m["value"] for m in HIDDEN.finditer(form)}


def fill(client, url, **fields):
    """GET the form at `url`, then return POST data: its hidden fields plus `fields`."""
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    data = hidden_fields(response.content.decode())
    data.setdefault("section", "definition")
    data.setdefault("kind", "error")
    data.setdefault("comment", "The definition leaves out fine-tuning.")
    data.update(fields)
    return data


@pytest.fixture
def form_data():
    return fill
