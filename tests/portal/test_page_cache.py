"""The page cache: anonymous readers share a rendering, signed-in users never do.

Anonymous readers are served one cached rendering per page (portal/lib/page_cache.py), with
their own CSRF token and form stamp filled in; every catalogue write, bulk ones included,
invalidates it (mitigations/invalidation.py). Signed-in users always get a rendering of their
own, so names, restricted figures, the reviewers' thread and permissions are always current;
these tests keep that so (also right after a role or a permission changes).
"""

import re

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from feedback.services import moderate
from portal.lib import access
from tests.conftest import verify_session
from tests.factories import FeedbackFactory, FigureFactory, MitigationFactory, UserFactory

pytestmark = pytest.mark.django_db

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
STAMP = re.compile(r'name="stamp" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _cache_on(settings):
    settings.PAGE_CACHE_SECONDS = 60
    settings.FEEDBACK_MIN_SECONDS = 0
    settings.EDITORS_EMAIL = []


@pytest.fixture
def page(db):
    page = MitigationFactory(name="Cached page", code="C0001")
    FigureFactory(mitigation=page, label="Prelimlabel", preliminary=True)
    return page


def _client(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    verify_session(client, user)
    return client


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), len(captured)


def test_anonymous_readers_share_a_rendering(page):
    url = page.get_absolute_url()
    first, rendered = _queries(Client(), url)
    second, hit = _queries(Client(), url)
    assert hit == 0 < rendered
    assert "Prelimlabel" not in second and "<~" not in second


def test_signed_in_users_are_never_served_a_cached_page(page):
    anna = UserFactory(username="anna-reviewer", role="reviewer")
    ben = UserFactory(username="ben-reviewer", role="reviewer")
    url = page.get_absolute_url()
    anna_client, ben_client = _client(anna), _client(ben)
    anna_client.get(url)
    ben_client.get(url)  # first requests of the sessions load more
    first, rendered = _queries(anna_client, url)
    second, again = _queries(ben_client, url)
    assert again == rendered > 0
    assert "anna-reviewer" in first and "ben-reviewer" not in first
    assert "ben-reviewer" in second and "anna-reviewer" not in second
    assert "Prelimlabel" in second
    assert "<~" not in second


def test_cached_page_carries_the_visitors_own_csrf_token_and_stamp(page):
    url = page.get_absolute_url()
    first = Client().get(url).content.decode()
    ben_client = Client(enforce_csrf_checks=True)
    second = ben_client.get(url).content.decode()
    assert CSRF.search(first)[1] != CSRF.search(second)[1]
    assert STAMP.search(first)[1] != STAMP.search(second)[1]
    form = second[second.index('class="feedback-form"') :]
    data = {
        "csrfmiddlewaretoken": CSRF.search(form)[1],
        "stamp": STAMP.search(form)[1],
        "page": re.search(r'name="page" value="([^"]+)"', form)[1],
        "section": "definition",
        "kind": "error",
        "comment": "Posted from a page served out of the cache.",
    }
    response = ben_client.post(f"/feedback/on/{page.code}/", data)
    assert response.status_code == 302, response.content[:500]
    assert page.feedback.get().comment == data["comment"]


@pytest.mark.parametrize("write", ["save", "update", "bulk_update", "links", "figure", "delete"])
def test_every_catalogue_write_invalidates_the_readers_page(page, write):
    """Bulk paths included: nothing relies on a signal a queryset method would skip."""
    from mitigations.models import Figure, Mitigation, SourceDocument

    url = page.get_absolute_url()
    assert _queries(Client(), url)[1] > 0
    assert _queries(Client(), url)[1] == 0  # cached
    if write == "save":
        page.definition = "CHANGED-TEXT"
        page.save()
    elif write == "update":
        Mitigation.objects.filter(pk=page.pk).update(definition="CHANGED-TEXT")
    elif write == "bulk_update":
        page.definition = "CHANGED-TEXT"
        Mitigation.objects.bulk_update([page], ["definition"])
    elif write == "links":
        page.sources.add(SourceDocument.objects.create(key="chg", title="CHANGED-TEXT", year=2024))
    elif write == "figure":
        Figure.objects.filter(mitigation=page).update(preliminary=False, label="CHANGED-TEXT")
    else:
        Mitigation.objects.filter(pk=page.pk).delete()
        assert Client().get(url).status_code == 404
        return
    html, queries = _queries(Client(), url)
    assert queries > 0 and "CHANGED-TEXT" in html


@pytest.mark.parametrize(
    "first_role, second_role",
    [("reviewer", "editor"), ("editor", "reviewer"), ("reviewer", None), (None, "reviewer")],
)
def test_roles_never_share_a_rendering(first_role, second_role):
    draft = MitigationFactory(name="Zebradraft page", status="draft")
    shown = MitigationFactory(name="Public page")
    FigureFactory(mitigation=shown, label="Prelimlabel", preliminary=True)
    first = _client(UserFactory(username="first", role=first_role))
    second = _client(UserFactory(username="second", role=second_role))
    for url, secret, who_sees in [
        ("/mitigations/", draft.name, {"editor"}),
        ("/", draft.name, {"editor"}),
        (shown.get_absolute_url(), "Prelimlabel", {"reviewer", "editor"}),
        (shown.get_absolute_url(), "feedback-thread", {"reviewer", "editor"}),
    ]:
        for role, client in [(first_role, first), (second_role, second), (first_role, first)]:
            html = client.get(url).content.decode()
            assert (secret in html) == (role in who_sees), (url, secret, role)


def test_losing_a_role_takes_effect_on_the_next_request(page):
    rita = UserFactory(username="rita", role="reviewer")
    client = _client(rita)
    url = page.get_absolute_url()
    assert "Prelimlabel" in client.get(url).content.decode()
    rita.groups.remove(Group.objects.get(name=access.group_name(access.REVIEWER)))
    assert "Prelimlabel" not in client.get(url).content.decode()
    rita.groups.add(Group.objects.get(name=access.group_name(access.REVIEWER)))
    assert "Prelimlabel" in client.get(url).content.decode()


def test_account_email_decides_the_form_not_the_first_visitor(page):
    with_email = UserFactory(username="has-mail", role="reviewer", email="a@example.org")
    without = UserFactory(username="no-mail", role="reviewer", email="")
    url = page.get_absolute_url()
    offer = "Email me at my account address"
    assert offer in _client(with_email).get(url).content.decode()
    assert offer not in _client(without).get(url).content.decode()
    assert offer in _client(with_email).get(url).content.decode()


def test_reviewers_thread_is_fresh_after_moderation(page):
    editor = UserFactory(username="ed", role="editor")
    vera = UserFactory(username="vera", role="reviewer")
    client = _client(vera)
    url = page.get_absolute_url()
    item = FeedbackFactory(mitigation=page, user=vera, by_reviewer=True, comment="THREAD-ITEM-TEXT")
    # A reviewer's post shows at once, pending or not; rejecting it removes it.
    assert "THREAD-ITEM-TEXT" in client.get(url).content.decode()
    moderate([item], editor, status="rejected")
    assert "THREAD-ITEM-TEXT" not in client.get(url).content.decode()
    moderate([item], editor, status="approved")
    assert "THREAD-ITEM-TEXT" in client.get(url).content.decode()
    item.refresh_from_db()
    item.comment = "EDITED-THREAD-TEXT"
    item.save()
    assert "EDITED-THREAD-TEXT" in client.get(url).content.decode()


def test_a_password_changed_elsewhere_ends_the_session_at_once(page):
    rita = UserFactory(username="rita", role="reviewer")
    client = _client(rita)
    url = page.get_absolute_url()
    assert "rita" in client.get(url).content.decode()
    rita.set_password("a-completely-new-password")
    rita.save()
    html = client.get(url).content.decode()
    assert "rita" not in html and "Prelimlabel" not in html


@pytest.mark.parametrize(
    "change",
    ["remove_from_group", "group_loses_permission", "delete_group", "deactivate", "delete"],
)
def test_every_kind_of_permission_change_counts_from_the_next_request(page, change):
    rita = UserFactory(username="rita", role="reviewer")
    client = _client(rita)
    url = page.get_absolute_url()
    assert "Prelimlabel" in client.get(url).content.decode()
    group = Group.objects.get(name=access.group_name(access.REVIEWER))
    if change == "remove_from_group":
        rita.groups.remove(group)
    elif change == "group_loses_permission":
        app_label, codename = access.SEE_RESTRICTED_FIGURES.split(".")
        group.permissions.remove(
            group.permissions.get(content_type__app_label=app_label, codename=codename)
        )
    elif change == "delete_group":
        group.delete()
    elif change == "deactivate":
        rita.is_active = False
        rita.save()
    else:
        rita.delete()
    assert "Prelimlabel" not in client.get(url).content.decode()


def test_becoming_a_superuser_counts_from_the_next_request(page):
    boss = UserFactory(username="boss")
    client = _client(boss)
    url = "/mitigations/?status=draft"
    MitigationFactory(name="Zebradraft page", status="draft")
    assert "Zebradraft" not in client.get(url).content.decode()
    boss.is_superuser = boss.is_staff = True
    boss.save()
    assert "Zebradraft" in client.get(url).content.decode()


def test_reviewers_thread_is_fresh_after_a_delete_and_a_move(page):
    other = MitigationFactory(name="Other page", code="C0002")
    vera = UserFactory(username="vera", role="reviewer")
    client = _client(vera)
    moved = FeedbackFactory(
        mitigation=page, user=vera, by_reviewer=True, status="approved", comment="MOVED-TEXT"
    )
    gone = FeedbackFactory(
        mitigation=page, user=vera, by_reviewer=True, status="approved", comment="GONE-TEXT"
    )
    url, other_url = page.get_absolute_url(), other.get_absolute_url()
    for _ in range(2):
        html = client.get(url).content.decode()
        assert "MOVED-TEXT" in html and "GONE-TEXT" in html
        assert "MOVED-TEXT" not in client.get(other_url).content.decode()
    gone.delete()
    assert "GONE-TEXT" not in client.get(url).content.decode()
    moved = type(moved).objects.get(pk=moved.pk)  # as the admin's change form loads it
    moved.mitigation = other
    moved.save()
    assert "MOVED-TEXT" not in client.get(url).content.decode()
    assert "MOVED-TEXT" in client.get(other_url).content.decode()


def test_restricted_figures_carry_each_viewers_own_stamp(page):
    """Per-viewer stamps on restricted figures: no reviewer gets another's rendering."""
    anna = UserFactory(username="anna-reviewer", role="reviewer")
    ben = UserFactory(username="ben-reviewer", role="reviewer")
    url = page.get_absolute_url()
    first = _client(anna).get(url).content.decode()
    second = _client(ben).get(url).content.decode()
    assert "seen by anna-reviewer" in first and "ben-reviewer" not in first
    assert "seen by ben-reviewer" in second and "anna-reviewer" not in second
    marks = (
        re.findall(r'data-ref="([0-9a-f]+)"', first),
        re.findall(r'data-ref="([0-9a-f]+)"', second),
    )
    assert marks[0] and marks[1] and set(marks[0]).isdisjoint(marks[1])
