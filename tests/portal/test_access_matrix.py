"""The visibility matrix: roles x channels x kinds of data (PORTAL.md, visibility section).

For every hidden cell the secret label, note and value appear nowhere in the body or headers;
for every visible cell they do.
"""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from feedback.models import PageHelpfulness
from tests.factories import (
    CategoryFactory,
    FeedbackFactory,
    FigureFactory,
    MitigationFactory,
    SourceFactory,
)

# Signed in with the password only (no second factor yet): treated as role-less.
ROLES = ["reader", "plain", "unverified_reviewer", "unverified_editor", "reviewer", "editor"]
SEES_RESTRICTED = {"reviewer", "editor"}
SEES_DRAFTS = {"editor"}

# kind -> (figure fields, restricted?)
TODAY = timezone.localdate()
FIGURE_KINDS = {
    "public": ({"preliminary": False}, False),
    "preliminary": ({"preliminary": True}, True),
    "embargoed": (
        {"preliminary": False, "embargo_until": TODAY + datetime.timedelta(days=20)},
        True,
    ),
    "embargo_passed": ({"preliminary": False, "embargo_until": TODAY}, False),
}
FIGURE_VALUES = {
    "public": Decimal("41.7"),
    "preliminary": Decimal("52.3"),
    "embargoed": Decimal("63.9"),
    "embargo_passed": Decimal("74.1"),
}

# Channels that show figures, and channels that show only that pages exist.
FIGURE_CHANNELS = ["detail", "export_csv", "export_json", "detail_cached"]
PAGE_CHANNELS = [
    "list",
    "search",
    "category",
    "source",
    "export_csv",
    "export_json",
    "feed",
    "sitemap",
    "related",
    "home",
    "snippet",
    "export_search",
]


@pytest.fixture
def world(db):
    category = CategoryFactory(code="2.2.1", name="Risk Assessment")
    source = SourceFactory(key="matrix2024")
    page = MitigationFactory(
        code="M100",
        name="Matrix mitigation",
        definition="Assess the matrix risks.",
        category=category,
    )
    page.sources.add(source)
    figures = {}
    for kind, (fields, _restricted) in FIGURE_KINDS.items():
        figures[kind] = FigureFactory(
            mitigation=page,
            key=f"fig_{kind}",
            label=f"Secretlabel{kind.replace('_', '')}",
            note=f"Secretnote{kind.replace('_', '')}",
            value=FIGURE_VALUES[kind],
            **fields,
        )
    draft = MitigationFactory(
        code="M200",
        name="Zebradraft hidden page",
        definition="Quokkaterm is only in a draft.",
        category=category,
        status="draft",
    )
    draft.sources.add(source)
    page.related.add(draft)
    return {"page": page, "draft": draft, "figures": figures, "category": category}


CHANNEL_URLS = {
    "detail": lambda w: w["page"].get_absolute_url(),
    "detail_cached": lambda w: w["page"].get_absolute_url(),
    "list": lambda w: "/mitigations/",
    "search": lambda w: "/mitigations/?q=Quokkaterm",
    "category": lambda w: w["category"].get_absolute_url(),
    "source": lambda w: "/mitigations/sources/matrix2024/",
    "export_csv": lambda w: "/mitigations/export.csv",
    "export_json": lambda w: "/mitigations/export.json",
    "feed": lambda w: "/mitigations/feed.atom",
    "sitemap": lambda w: "/sitemap.xml",
    "related": lambda w: w["page"].get_absolute_url(),
    "home": lambda w: "/",
    # Results with snippets: "draft" is in the draft's definition only.
    "snippet": lambda w: "/mitigations/?q=draft",
    "export_search": lambda w: "/mitigations/export.csv?q=draft",
}


def fetch(client, url, *, twice=False):
    response = client.get(url)
    if twice:  # the second request may come from the page cache
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    body = response.content.decode()
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return body + "\n" + headers


def secrets_of(figure):
    return [figure.label, figure.note, f"{figure.value.normalize():f}"]


@pytest.mark.parametrize("channel", FIGURE_CHANNELS)
@pytest.mark.parametrize("kind", list(FIGURE_KINDS))
@pytest.mark.parametrize("role", ROLES)
def test_figures(world, role, kind, channel, request):
    client = request.getfixturevalue(f"{role}_client")
    text = fetch(client, CHANNEL_URLS[channel](world), twice=channel == "detail_cached")
    restricted = FIGURE_KINDS[kind][1]
    visible = not restricted or role in SEES_RESTRICTED
    for secret in secrets_of(world["figures"][kind]):
        if visible:
            assert secret in text, f"{role} should see {kind} {secret!r} on {channel}"
        else:
            assert secret not in text, f"{role} must not see {kind} {secret!r} on {channel}"


@pytest.mark.parametrize("channel", PAGE_CHANNELS)
@pytest.mark.parametrize("role", ROLES)
def test_draft_page(world, role, channel, request):
    client = request.getfixturevalue(f"{role}_client")
    text = fetch(client, CHANNEL_URLS[channel](world))
    draft = world["draft"]
    # The search echoes its query, so it is judged by the draft's name and slug.
    secrets = [draft.name, draft.slug]
    if channel in ("export_csv", "export_json", "export_search"):
        secrets = [draft.name, "Quokkaterm"]  # exports carry ids, names and definitions
    if channel == "sitemap":
        # Crawlers are anonymous: the sitemap never lists a draft, not even for editors.
        assert draft.slug not in text
        return
    for secret in secrets:
        if role in SEES_DRAFTS:
            assert secret in text, f"editor should see the draft ({secret!r}) on {channel}"
        else:
            assert secret not in text, (
                f"{role} must not learn of the draft ({secret!r}) on {channel}"
            )


@pytest.mark.parametrize("role", ROLES)
def test_draft_detail_is_404_except_for_editors(world, role, request):
    client = request.getfixturevalue(f"{role}_client")
    for url in (world["draft"].get_absolute_url(), "/mitigations/M200/"):
        response = client.get(url, follow=True)
        if role in SEES_DRAFTS:
            assert response.status_code == 200
            assert "Zebradraft" in response.content.decode()
        else:
            assert response.status_code == 404
            assert "Zebradraft" not in response.content.decode()
    # A missing page and a draft page answer the same way.
    missing = client.get("/mitigations/no-such-page-m999/")
    assert missing.status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_hidden_figures_notice(world, role, request):
    client = request.getfixturevalue(f"{role}_client")
    body = client.get(world["page"].get_absolute_url()).content.decode()
    if role in SEES_RESTRICTED:
        assert "do not share or cite" in body
        assert "available to signed-in reviewers" not in body
    else:
        assert "2 preliminary figures are available to signed-in reviewers" in body
        assert "do not share or cite" not in body
        assert "/accounts/signin/?next=/mitigations/" in body


@pytest.mark.parametrize("role", ROLES)
def test_admin_only_for_editors(world, role, request):
    client = request.getfixturevalue(f"{role}_client")
    response = client.get("/admin/mitigations/figure/")
    if role == "editor":
        assert response.status_code == 200
        body = response.content.decode()
        for figure in world["figures"].values():
            assert figure.label in body
    else:
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]
        assert client.get("/admin/mitigations/mitigation/").status_code == 302


def test_filtering_by_status_offers_draft_to_editors_only(world, reader_client, editor_client):
    assert "Zebradraft" not in reader_client.get("/mitigations/?status=draft").content.decode()
    assert 'value="draft"' not in reader_client.get("/mitigations/").content.decode()
    assert "Zebradraft" in editor_client.get("/mitigations/?status=draft").content.decode()


def test_shared_cache_never_serves_a_variant_across_roles(world, reader_client, reviewer_client):
    url = world["page"].get_absolute_url()
    secret = world["figures"]["preliminary"].label
    # reviewer first, then anonymous, then reviewer again, then anonymous again
    assert secret in reviewer_client.get(url).content.decode()
    anon = reader_client.get(url)
    assert secret not in anon.content.decode()
    assert "Cookie" in anon["Vary"]
    assert "private" in anon["Cache-Control"]
    assert secret in reviewer_client.get(url).content.decode()
    assert secret not in reader_client.get(url).content.decode()
    reviewer_response = reviewer_client.get(url)
    assert "private" in reviewer_response["Cache-Control"]
    assert "Cookie" in reviewer_response["Vary"]


def test_embargo_lifts_on_next_request_without_restart(world, reader_client, monkeypatch):
    url = world["page"].get_absolute_url()
    figure = world["figures"]["embargoed"]
    figure.embargo_until = TODAY + datetime.timedelta(days=1)
    figure.save()
    assert figure.label not in reader_client.get(url).content.decode()
    assert figure.label not in reader_client.get(url).content.decode()  # now cached
    tomorrow = timezone.now() + datetime.timedelta(days=1)
    monkeypatch.setattr(timezone, "now", lambda: tomorrow)
    assert figure.label in reader_client.get(url).content.decode()


def test_page_edit_is_fresh_for_anonymous_readers(world, reader_client):
    url = world["page"].get_absolute_url()
    assert "Assess the matrix risks." in reader_client.get(url).content.decode()
    page = world["page"]
    page.definition = "A brand new definition."
    page.save()
    assert "A brand new definition." in reader_client.get(url).content.decode()


def test_restricted_views_are_audited_once_per_day(world, reviewer_client, reader_client, reviewer):
    from django.core.cache import cache

    from mitigations.models import FigureView

    url = world["page"].get_absolute_url()
    reviewer_client.get(url)  # rendered
    reviewer_client.get(url)  # from the page cache, within the same minute: not counted again
    reader_client.get(url)
    views = FigureView.objects.all()
    assert [(v.user, v.mitigation, v.views) for v in views] == [(reviewer, world["page"], 1)]
    cache.delete(f"portal:figure-view:{reviewer.pk}:{world['page'].pk}:{TODAY}")
    reviewer_client.get(url)  # a minute later (the marker has expired): counted
    assert FigureView.objects.get().views == 2
    assert FigureView.objects.count() == 1


def test_restricted_views_are_audited_when_the_cache_forgets(world, reviewer_client, reviewer):
    from django.core.cache import cache

    from mitigations.models import FigureView

    url = world["page"].get_absolute_url()
    reviewer_client.get(url)
    cache.clear()  # e.g. Redis restarted: write rather than miss a view
    reviewer_client.get(url)
    assert FigureView.objects.get(user=reviewer).views == 2


@pytest.mark.parametrize("role", ROLES)
def test_search_suggestions_come_only_from_what_the_role_sees(world, role, request):
    client = request.getfixturevalue(f"{role}_client")
    text = fetch(client, "/mitigations/?q=Quokkatrm")  # a typo of a word only in the draft
    if role in SEES_DRAFTS:
        assert ">quokkaterm</a>" in text
    else:
        assert "quokkaterm" not in text.lower() and "Did you mean" not in text


@pytest.mark.parametrize("kind", list(FIGURE_KINDS))
@pytest.mark.parametrize("role", ROLES)
def test_figure_text_is_never_searched_or_snippeted(world, role, kind, request):
    client = request.getfixturevalue(f"{role}_client")
    figure = world["figures"][kind]
    for word in (figure.label, figure.note):
        text = fetch(client, f"/mitigations/?q={word}")
        assert "No mitigations match" in text and "Matrix mitigation" not in text
    text = fetch(client, "/mitigations/?q=matrix")
    snippet = text[text.index('class="snippet') :]
    for secret in secrets_of(figure):
        assert secret not in snippet


@pytest.mark.parametrize("role", ROLES)
def test_helpful_counts_only_in_the_editors_admin(world, role, request):
    PageHelpfulness.objects.create(mitigation=world["page"], yes=4242, no=1717)
    client = request.getfixturevalue(f"{role}_client")
    for url in (world["page"].get_absolute_url(), "/mitigations/", "/mitigations/export.json"):
        text = fetch(client, url)
        assert "4242" not in text and "1717" not in text
    response = client.get("/admin/feedback/pagehelpfulness/")
    if role == "editor":
        assert "4242" in response.content.decode()
    else:
        assert response.status_code == 302


REVIEW_CHANNELS = {
    "changes": lambda w: f"/mitigations/{w['page'].slug}/changes/",
    "recent_changes": lambda w: "/mitigations/changes/",
    "recent_feed": lambda w: "/mitigations/changes.atom",
    "version": lambda w: f"/mitigations/{w['page'].slug}/v/2/",
    "citation": lambda w: w["page"].get_absolute_url(),
}


@pytest.fixture
def reviewed_world(world):
    """The page edited twice, once while its figures changed; the draft edited too; feedback
    of every kind addressed."""
    page, draft = world["page"], world["draft"]
    for figure in world["figures"].values():
        figure.value += 1
        figure.save()
    page.definition = "Assess the matrix risks, reworded."
    page.save()
    draft.definition = "Quokkaterm reworded in the draft."
    draft.save()
    FeedbackFactory(
        mitigation=page,
        section="definition",
        kind="error",
        comment="Feedbacksecret text.",
        resolution="addressed",
        status="approved",
        by_reviewer=True,
    )
    return world


@pytest.mark.parametrize("channel", list(REVIEW_CHANNELS))
@pytest.mark.parametrize("role", ROLES)
def test_review_channels_never_show_figures_drafts_or_feedback(
    reviewed_world, role, channel, request
):
    client = request.getfixturevalue(f"{role}_client")
    text = fetch(client, REVIEW_CHANNELS[channel](reviewed_world))
    if channel == "citation":  # the page's history and citation part (the rest is judged above)
        start = text.index('class="mt-4 page-review"')
        text = text[start : text.index("</section>", start)]
        assert "/v/2/" in text and "Cite this page" in text
    for kind, figure in reviewed_world["figures"].items():
        restricted = FIGURE_KINDS[kind][1]
        if channel == "version" and not restricted:
            # An old version shows figures public then and now (to every role), nothing else.
            assert figure.label in text
            continue
        for secret in (figure.label, figure.note):
            assert secret not in text, f"{role} saw {secret!r} on {channel}"
    draft = reviewed_world["draft"]
    for secret in (draft.name, draft.slug, "Quokkaterm"):
        assert secret not in text, f"{role} saw the draft ({secret!r}) on {channel}"
    assert "Feedbacksecret" not in text
    # The only addressed feedback is a reviewer's: the reviewers' discussion is not mentioned.
    assert "after reader feedback" not in text
    if channel in ("changes", "recent_changes", "recent_feed", "citation"):
        assert "Definition reworded" in text


@pytest.mark.parametrize("role", ROLES)
def test_a_drafts_history_and_versions_are_404_except_for_editors(reviewed_world, role, request):
    client = request.getfixturevalue(f"{role}_client")
    draft = reviewed_world["draft"]
    changes = client.get(f"/mitigations/{draft.slug}/changes/")
    version = client.get(f"/mitigations/{draft.slug}/v/1/")
    if role in SEES_DRAFTS:
        assert changes.status_code == 200
        assert version.status_code == 404  # a draft has no public version
    else:
        assert changes.status_code == version.status_code == 404
    assert "Zebradraft" not in changes.content.decode() or role in SEES_DRAFTS
