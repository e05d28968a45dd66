"""trace_leak names the account whose stamp is in a leaked page, table or download."""

import datetime
import io
import re

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.conftest import verify_session
from tests.factories import FigureFactory, MitigationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def page(db):
    page = MitigationFactory(code="L100", name="Leaky page")
    FigureFactory(
        mitigation=page, key="p", label="Prelim", value="52.3", unit="%", preliminary=True
    )
    FigureFactory(
        mitigation=page, key="q", label="Public", value="41.7", unit="%", preliminary=False
    )
    return page


@pytest.fixture
def rita(db):
    return UserFactory(username="rita-reviewer", role="reviewer")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob-reviewer", role="reviewer")


def _client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return verify_session(client, user)


def _trace(arg) -> str:
    out = io.StringIO()
    call_command("trace_leak", str(arg), stdout=out)
    return out.getvalue()


def test_saved_page_names_the_viewer_by_its_invisible_mark(page, rita, bob, tmp_path):
    _client(bob).get(page.get_absolute_url())
    html = _client(rita).get(page.get_absolute_url()).content.decode()
    # Strip every visible stamp: only the markup's marks are left.
    html = html.replace("seen by rita-reviewer", "")
    assert "rita-reviewer, " not in html
    saved = tmp_path / "saved.html"
    saved.write_text(html)
    out = _trace(saved)
    assert "rita-reviewer" in out and "invisible mark" in out
    assert "bob-reviewer" not in out


def test_copied_table_names_the_viewer_by_its_visible_stamp(page, rita, bob):
    html = _client(rita).get(page.get_absolute_url()).content.decode()
    caption = re.search(r"<caption[^>]*>(.*?)</caption>", html, re.S)[1]
    copied = re.sub(r"<[^>]+>", "", caption) + "\nPreliminary\tPrelim\t—\t52.3%\t—\n"
    out = _trace(copied)
    assert "rita-reviewer" in out and "visible stamp" in out and "bob" not in out


def test_marks_change_no_value_order_or_text(page, rita):
    """The mark is an attribute: the page's text (what a reader, a screen reader or a copy
    gets) is a reader's apart from the visible stamp."""
    html = _client(rita).get(page.get_absolute_url()).content.decode()
    text = re.sub(r"<[^>]+>", "", html)
    assert "data-ref" not in text
    assert text.index("52.3%") < text.index("41.7%")
    row = re.search(r'<tr data-ref="[0-9a-f]{16}">(.*?)</tr>', html, re.S)[1]
    assert ">52.3%<" in row


def test_downloads_carry_the_stamp(page, rita, bob):
    csv_body = _client(rita).get("/mitigations/export.csv").content.decode()
    assert csv_body.strip().splitlines()[-1].startswith("# Preliminary data")
    assert "rita-reviewer" in _trace(csv_body.splitlines()[-1].replace("seen by", "x"))
    json_body = _client(bob).get("/mitigations/export.json").json()
    assert "bob-reviewer" in json_body["stamp"]["seen_by"]
    out = _trace(f'data-ref="{json_body["stamp"]["ref"]}"')
    assert "bob-reviewer" in out and "rita" not in out


def test_nothing_found(page):
    assert "No stamp found." in _trace("52.3% and nothing else")
    assert "No stamp found." in _trace('data-ref="0123456789abcdef"')


def test_an_old_visible_stamp_still_names_the_account(rita):
    day = timezone.localdate() - datetime.timedelta(days=30)
    out = _trace(f"seen by rita-reviewer, {day:%-d %b %Y}")
    assert "rita-reviewer" in out
