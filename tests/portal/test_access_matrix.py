"""The visibility matrix: roles x channels x kinds of data (PORTAL.md, visibility section).

For every hidden cell the secret label, note and value appear nowhere in the body or headers;
for every visible cell they do.
"""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from feedback.models import PageHelpfulness
from tests.conftest import verify_session
from tests.factories import (
    CategoryFactory,
    FeedbackFactory,
    FigureFactory,
    MitigationFactory,
    SourceFactory,
    UserFactory,
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


# --- Reviewers' channels: the restricted filter, the cards' markers, the account lists ------

LIST_URLS = ["/mitigations/", "/mitigations/taxonomy/2.2.1/", "/mitigations/sources/matrix2024/"]


@pytest.fixture
def plain_page(world):
    """A page without restricted figures, listed before the matrix page."""
    page = MitigationFactory(code="M050", name="Aardvark public page", category=world["category"])
    page.sources.add(SourceFactory(key="other2024"))
    page.sources.add(world["page"].sources.get())
    FigureFactory(mitigation=page, key="pub", preliminary=False)
    return page


def _without_tokens(text):
    import re

    return re.sub(r'(name="(csrfmiddlewaretoken|stamp)" value=")[^"]+"', r"\1\"", text)


@pytest.mark.parametrize("url", LIST_URLS)
@pytest.mark.parametrize("param", ["restricted=1", "restricted=lifting", "restricted=bogus"])
@pytest.mark.parametrize("role", ROLES)
def test_restricted_filter_parameter(world, plain_page, role, param, url, request):
    client = request.getfixturevalue(f"{role}_client")
    plain = fetch(client, url)
    filtered = fetch(client, f"{url}?{param}")
    marker = "1 preliminary · 1 embargoed until"
    if role not in SEES_RESTRICTED:
        # The parameter does not exist: same body and headers, same counts and order.
        assert _without_tokens(filtered) == _without_tokens(plain)
        for text in (plain, filtered):
            assert "Aardvark public page" in text and "Matrix mitigation" in text
            assert "Restricted figures" not in text and "restricted=" not in text
            assert "preliminary ·" not in text and "embargoed until" not in text
        return
    assert 'id="filter-restricted"' in plain
    assert marker in plain  # the card's marker
    if param == "restricted=bogus":
        assert "Aardvark public page" in filtered  # ignored, with a notice
        assert "were not understood" in filtered
        return
    assert "Matrix mitigation" in filtered and marker in filtered
    assert "Aardvark public page" not in filtered
    assert "<strong>1</strong> mitigation" in filtered


def test_lifting_soon_filter_leaves_out_far_embargoes(world, reviewer_client):
    world["figures"]["embargoed"].embargo_until = TODAY + datetime.timedelta(days=90)
    world["figures"]["embargoed"].save()
    body = reviewer_client.get("/mitigations/?restricted=lifting").content.decode()
    assert "Matrix mitigation" not in body
    assert "<strong>0</strong> mitigations" in body
    assert "Matrix mitigation" in reviewer_client.get("/mitigations/?restricted=1").content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_account_review_lists(world, plain_page, role, request):
    if role == "reader":
        assert request.getfixturevalue("reader_client").get("/accounts/").status_code == 302
        return
    client = request.getfixturevalue(f"{role}_client")
    body = fetch(client, "/accounts/")
    if role not in SEES_RESTRICTED:
        for text in ("awaiting your review", "Embargoes lifting soon", "Matrix mitigation"):
            assert text not in body
        return
    awaiting = body[body.index("Pages awaiting your review") : body.index("Embargoes lifting")]
    lifting = body[body.index("Embargoes lifting soon") : body.index("My feedback")]
    assert "Matrix mitigation" in awaiting and "Aardvark" not in awaiting
    assert "Matrix mitigation" in lifting and "Aardvark" not in lifting
    assert "embargoed until" in lifting
    # Once opened, the page no longer waits for this reviewer.
    client.get(world["page"].get_absolute_url())
    body = fetch(client, "/accounts/")
    awaiting = body[body.index("Pages awaiting your review") : body.index("Embargoes lifting")]
    assert "Matrix mitigation" not in awaiting and "Nothing is waiting for you" in awaiting


@pytest.mark.parametrize("role", ROLES)
def test_detail_notice_says_what_is_restricted_and_until_when(world, role, request):
    client = request.getfixturevalue(f"{role}_client")
    body = fetch(client, world["page"].get_absolute_url(), twice=True)
    until = (TODAY + datetime.timedelta(days=20)).strftime("%-d %b %Y")
    notice = f"1 figure is embargoed until {until}; 1 is preliminary."
    if role in SEES_RESTRICTED:
        assert notice in body
        assert "Hatched bars are preliminary" not in body or "· preliminary" in body
    else:
        assert "embargoed until" not in body.lower() and "seen by" not in body
        assert "data-ref=" not in body


@pytest.mark.parametrize("role", ROLES)
def test_restricted_figures_carry_the_viewers_stamp(world, role, request):
    from mitigations.models import FigureView
    from portal.lib import stamps

    client = request.getfixturevalue(f"{role}_client")
    body = fetch(client, world["page"].get_absolute_url(), twice=True)
    if role not in SEES_RESTRICTED:
        assert "seen by" not in body and "data-ref=" not in body
        return
    user = request.getfixturevalue("reviewer" if role == "reviewer" else "editor")
    mark = stamps.mark(user.pk, TODAY)
    assert f"seen by {user.username}, {TODAY.strftime('%-d %b %Y')}" in body
    # On the two restricted rows (not the public ones), and nowhere near the numbers.
    assert body.count(f'<tr data-ref="{mark}">') == 2
    assert f">{FIGURE_VALUES['preliminary']}%<" in body
    assert FigureView.objects.get(user=user).stamp == mark


# --- Restricted feedback: tracking and thanks pages, mail; the thread with replies ----------

FEEDBACK_KINDS = {
    # kind -> (factory fields, restricted?)
    "reader_text": ({"section": "definition", "by_reviewer": False}, False),
    "reader_figures": ({"section": "figures", "by_reviewer": False}, True),
    "by_reviewer": ({"section": "definition", "by_reviewer": True}, True),
}


@pytest.fixture
def feedback_items(world, reviewer):
    from tests.factories import FeedbackFactory

    items = {}
    for kind, (fields, _restricted) in FEEDBACK_KINDS.items():
        items[kind] = FeedbackFactory(
            mitigation=world["page"],
            user=reviewer if fields["by_reviewer"] else None,
            comment=f"Secretcomment{kind.replace('_', '')} quotes 52.3",
            public_reply=f"Secretreply{kind.replace('_', '')}",
            status="approved",
            resolution="addressed",
            **fields,
        )
    return items


@pytest.mark.parametrize("channel", ["track", "thanks"])
@pytest.mark.parametrize("kind", list(FEEDBACK_KINDS))
@pytest.mark.parametrize("role", ROLES)
def test_restricted_feedback_pages(feedback_items, role, kind, channel, request):
    from django.urls import reverse

    item = feedback_items[kind]
    client = request.getfixturevalue(f"{role}_client")
    text = fetch(client, reverse(f"feedback:{channel}", args=[item.token]))
    restricted = FEEDBACK_KINDS[kind][1]
    readable = not restricted or role in SEES_RESTRICTED
    secrets = [item.comment, item.public_reply] if channel == "track" else []
    for secret in secrets:
        if readable:
            assert secret in text, f"{role} should read {kind} on {channel}"
        else:
            assert secret not in text, f"{role} must not read {kind} on {channel}"
    if channel == "track":
        assert "Addressed" in text and "Approved" in text  # the status, for everyone
    assert ("only its status is shown" in text) == (channel == "track" and not readable)
    assert "noindex" in text and "Referrer-Policy: no-referrer" in text


@pytest.mark.parametrize("kind", list(FEEDBACK_KINDS))
def test_editors_mail_hides_restricted_text_from_plain_addresses(
    feedback_items, kind, editor, settings
):
    from django.core import mail

    from feedback import notifications

    settings.EDITORS_EMAIL = ["team@example.org"]
    item = feedback_items[kind]
    notifications.notify_editors.call(item.pk)
    by_address = {tuple(m.to): m for m in mail.outbox}
    to_editor = next(m for to, m in by_address.items() if editor.email in to)
    to_team = next(m for to, m in by_address.items() if "team@example.org" in to)
    assert item.comment in to_editor.body
    if FEEDBACK_KINDS[kind][1]:
        assert item.comment not in to_team.body and "52.3" not in to_team.body
        assert "restricted" in to_team.subject and "restricted feedback" in to_team.body
    else:
        assert to_team is to_editor


@pytest.mark.parametrize("kind", list(FEEDBACK_KINDS))
def test_submitter_mail_carries_restricted_reply_only_to_allowed_accounts(feedback_items, kind):
    from django.core import mail

    from feedback import notifications

    item = feedback_items[kind]
    Feedback = type(item)
    Feedback.objects.filter(pk=item.pk).update(
        contact_consent=True, email="" if item.user_id else "someone@example.org"
    )
    from django.utils import timezone as tz

    from feedback.models import ContactAddress

    ContactAddress.objects.create(email="someone@example.org", confirmed_at=tz.now())
    notifications.notify_submitter.call(item.pk)
    body = mail.outbox[0].body
    readable = not FEEDBACK_KINDS[kind][1] or item.user_id  # the reviewer may read it
    assert (item.public_reply in body) == bool(readable)


@pytest.mark.parametrize("role", ROLES)
def test_thread_with_replies(feedback_items, role, request, reviewer):
    from feedback.models import Reply

    Reply.objects.create(feedback=feedback_items["by_reviewer"], user=reviewer, comment="Secretr1")
    Reply.objects.create(
        feedback=feedback_items["by_reviewer"], user=reviewer, comment="Secrethidden", hidden=True
    )
    client = request.getfixturevalue(f"{role}_client")
    text = fetch(client, feedback_items["by_reviewer"].mitigation.get_absolute_url(), twice=True)
    assert "Secrethidden" not in text
    assert "Secretcommentreadertext" not in text  # readers' feedback never joins the thread
    if role in SEES_RESTRICTED:
        assert "Secretr1" in text and "Discussion (2)" in text
        assert "Secretcommentbyreviewer" in text
    else:
        for secret in ("Secretr1", "Discussion (", "Secretcommentbyreviewer", "fb-item-"):
            assert secret not in text


@pytest.mark.parametrize("channel", ["export_csv", "export_json"])
@pytest.mark.parametrize("role", ROLES)
def test_downloads_with_restricted_figures_carry_the_viewers_stamp(world, role, channel, request):
    client = request.getfixturevalue(f"{role}_client")
    text = fetch(client, CHANNEL_URLS[channel](world))
    if role in SEES_RESTRICTED:
        user = request.getfixturevalue("reviewer" if role == "reviewer" else "editor")
        assert f"seen by {user.username}" in text and "data-ref=" not in text.split("seen by")[0]
    else:
        assert "seen by" not in text and "data-ref" not in text and '"stamp"' not in text


@pytest.mark.parametrize("role", ["plain", "reviewer", "editor"])
def test_reply_notifications_reach_only_thread_readers(
    feedback_items, role, request, django_capture_on_commit_callbacks
):
    """A participant of a thread who asked for reply mail gets the reply's text only while
    they may read the discussion (a role-less account, e.g. a former reviewer, gets none);
    readers cannot take part at all."""
    from django.core import mail

    from feedback import services
    from feedback.models import Reply

    item = feedback_items["by_reviewer"]
    participant = request.getfixturevalue({"plain": "plain_user"}.get(role, role))
    Reply.objects.create(feedback=item, user=participant, comment="I took part")
    services.reply_mail_set(user=participant, enabled=True)
    replier = UserFactory(username="other-reviewer", role="reviewer")
    with django_capture_on_commit_callbacks(execute=True):
        services.reply_create(user=replier, feedback=item, comment="Secretreplytext 52.3")
    to_participant = [m for m in mail.outbox if participant.email in m.to]
    if role == "plain":
        assert to_participant == []
        assert all("Secretreplytext" not in m.body for m in mail.outbox)
    else:
        assert len(to_participant) == 1
        assert "Secretreplytext 52.3" in to_participant[0].body
        assert "List-Unsubscribe" in to_participant[0].extra_headers


def test_a_page_replied_on_no_longer_awaits_review(world, feedback_items, reviewer_client):
    from feedback.models import Reply

    other = UserFactory(username="other-rev", role="reviewer")
    from django.test import Client

    client = Client()
    client.force_login(other)
    verify_session(client, other)
    body = client.get("/accounts/").content.decode()
    assert "Matrix mitigation" in body[: body.index("Embargoes lifting")]
    Reply.objects.create(feedback=feedback_items["by_reviewer"], user=other, comment="Seen")
    body = client.get("/accounts/").content.decode()
    assert "Matrix mitigation" not in body[: body.index("Embargoes lifting")]


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
