"""The demo's feedback (`manage.py demo_feedback`, after `setup_demo`): a queue with work in
every preset, a merged duplicate, a decided item per resolution, and a reviewer's restricted
item with a reply in the reviewers' discussion; all made through the services, idempotent."""

import io

import pytest
from django.core import mail
from django.core.management import call_command

from feedback.models import Feedback, Reply
from tests.conftest import _client_for


@pytest.fixture
def demo(db):
    call_command("setup_demo", force=True, stdout=io.StringIO())
    out = io.StringIO()
    call_command("demo_feedback", force=True, stdout=out)
    return out.getvalue()


def test_demo_feedback_fills_the_queue_once(demo):
    assert "10 items created" in demo
    items = Feedback.objects.all()
    assert items.filter(status="pending").count() == 3
    assert items.filter(status="approved", resolution="open").count() == 4  # needs a resolution
    assert items.filter(status="spam").count() == 1
    assert set(items.exclude(resolution="open").values_list("resolution", flat=True)) == {
        "addressed",
        "declined",
    }
    duplicate = items.get(submission_id="demo-duplicate-2")
    assert duplicate.duplicate_of == items.get(submission_id="demo-duplicate-1")
    assert all(item.page_version for item in items)  # written against a real page version
    assert mail.outbox == []  # no mail about made-up feedback
    again = io.StringIO()
    call_command("demo_feedback", force=True, stdout=again)
    assert "0 items created" in again.getvalue()
    assert Feedback.objects.count() == 10 and Reply.objects.count() == 1


def test_the_reviewers_demo_item_is_restricted_and_discussed(demo):
    from django.contrib.auth import get_user_model

    item = Feedback.objects.get(submission_id="demo-figure")
    assert item.by_reviewer and item.section == "figures"
    reviewer = get_user_model().objects.get(username="reviewer")
    page = item.mitigation.get_absolute_url()
    seen = _client_for(reviewer).get(page).content.decode()
    assert "Agreed, table 3 is the one to use" in seen  # the editor's reply in the thread
    anonymous = _client_for(None)
    assert "table 3" not in anonymous.get(page).content.decode()
    assert "table 3" not in anonymous.get(item.get_absolute_url()).content.decode()


def test_demo_feedback_refuses_to_run_in_production(db, settings):
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("demo_feedback", stdout=io.StringIO())
