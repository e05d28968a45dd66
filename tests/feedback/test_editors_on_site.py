"""The public site knows editors: sign-in lands them on the queue (or back where they were),
pages show them "Edit in admin" and the page's open feedback, counted on every request;
none of it reaches other roles or any cached rendering."""

import pytest

from feedback.models import Feedback
from portal.accounts import second_factor
from portal.lib import page_cache
from tests.conftest import PASSWORD, confirmed_device
from tests.factories import FeedbackFactory, MitigationFactory

pytestmark = pytest.mark.django_db

SIGNIN = "/accounts/signin/"
VERIFY = "/accounts/second-factor/"
EDIT = "Edit in admin"


@pytest.fixture(autouse=True)
def _cache_pages(settings):
    settings.PAGE_CACHE_SECONDS = 60


def sign_in(client, user, next_path=None):
    """The password, then a real code (the second factor); the response of the code step."""
    url = SIGNIN + (f"?next={next_path}" if next_path else "")
    response = client.post(url, {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"].startswith(VERIFY)
    code = second_factor.fresh_code(confirmed_device(user))
    return client.post(response["Location"], {"code": code})


def test_editor_without_a_page_lands_on_the_queue_with_the_pending_count(client, editor):
    FeedbackFactory.create_batch(3)
    FeedbackFactory(status="approved")
    confirmed_device(editor)
    password_only = client.post(SIGNIN, {"username": editor.username, "password": PASSWORD})
    # The queue is where the code step leads; the count is told once the code is passed.
    assert password_only["Location"] == (
        f"{VERIFY}?next=%2Fadmin%2Ffeedback%2Ffeedback%2F%3Fstatus__exact%3Dpending"
    )
    code_page = client.get(password_only["Location"]).text
    assert "Enter your code" in code_page and "pending." not in code_page
    response = client.post(
        password_only["Location"], {"code": second_factor.fresh_code(confirmed_device(editor))}
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/feedback/feedback/?status__exact=pending"
    queue = client.get(response["Location"])
    assert "3 feedback items pending." in queue.text


def test_a_signed_in_editor_back_at_sign_in_lands_on_the_queue(editor_client):
    FeedbackFactory()
    response = editor_client.get(SIGNIN)
    assert response["Location"] == "/admin/feedback/feedback/?status__exact=pending"
    assert "1 feedback item pending." in editor_client.get(response["Location"]).text


def test_editor_lands_where_they_came_from(client, editor):
    page = MitigationFactory()
    response = sign_in(client, editor, page.get_absolute_url())
    assert response["Location"] == page.get_absolute_url()


def test_reviewer_lands_on_the_account_page(client, reviewer):
    response = sign_in(client, reviewer)
    assert response["Location"] == "/accounts/"


def test_editor_sees_tools_with_a_live_count(editor_client):
    page = MitigationFactory(status="published")
    FeedbackFactory(mitigation=page)
    FeedbackFactory(mitigation=page, status="approved")  # needs a resolution: open
    FeedbackFactory(mitigation=page, status="approved", resolution="addressed")
    FeedbackFactory(mitigation=page, status="spam")
    html = editor_client.get(page.get_absolute_url()).text
    assert EDIT in html
    assert f'href="/admin/mitigations/mitigation/{page.pk}/change/"' in html
    assert "2 open feedback on this page" in html
    assert f"/admin/feedback/feedback/?page={page.code}&amp;due=open" in html
    FeedbackFactory(mitigation=page)
    assert "3 open feedback on this page" in editor_client.get(page.get_absolute_url()).text


def test_the_queue_link_shows_the_pages_open_feedback(editor_client):
    page = MitigationFactory(code="Q0001")
    open_items = [
        FeedbackFactory(mitigation=page),
        FeedbackFactory(mitigation=page, status="approved"),
    ]
    FeedbackFactory(mitigation=page, status="rejected")
    FeedbackFactory()
    shown = editor_client.get("/admin/feedback/feedback/?page=Q0001&due=open").context["cl"]
    assert {f.pk for f in shown.result_list} == {f.pk for f in open_items}


class RecordingCache:
    """The page cache's cache, recording every entry stored."""

    def __init__(self, real):
        self.real = real
        self.stored = []

    def set(self, key, value, *args, **kwargs):
        self.stored.append(value)
        return self.real.set(key, value, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.mark.parametrize("first", ["editor", "reader", "reviewer"])
def test_no_other_role_and_no_cached_rendering_gets_the_tools(
    client, reviewer_client, editor_client, first, monkeypatch
):
    recorder = RecordingCache(page_cache.cache)
    monkeypatch.setattr(page_cache, "cache", recorder)
    page = MitigationFactory(status="published")
    FeedbackFactory(mitigation=page)
    clients = {"editor": editor_client, "reader": client, "reviewer": reviewer_client}
    order = [first, *[name for name in clients if name != first]]
    seen = {}
    for _round in range(2):  # the second round is served from the cache
        for name in order:
            seen.setdefault(name, []).append(clients[name].get(page.get_absolute_url()).text)
    assert all(EDIT in html for html in seen["editor"])
    for name in ("reader", "reviewer"):
        for html in seen[name]:
            assert EDIT not in html and "open feedback on this page" not in html
    # The readers' page was cached (signed-in users get their own renderings), and no
    # cached page holds the editor's tools.
    pages = [entry for entry in recorder.stored if isinstance(entry, tuple)]
    assert pages
    for entry in pages:
        body = b"".join(part for part in entry[1] if isinstance(part, bytes))
        assert EDIT.encode() not in body and b"open feedback on this page" not in body


def test_editors_pages_are_never_stored(editor, rf):
    request = rf.get("/")
    request.user = editor
    assert page_cache._cacheable(request) is False


def test_pages_say_nothing_of_editors_to_readers_of_drafts_either(client):
    page = MitigationFactory(status="published")
    assert EDIT not in client.get(page.get_absolute_url()).text
    assert Feedback.objects.count() == 0
