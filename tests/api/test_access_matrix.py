"""The API in the visibility matrix: every endpoint x every kind of caller.

The canaries of tests/portal/test_access_matrix.py (secret figure labels, notes and values;
a draft page whose name, code and words exist nowhere else) must appear exactly where the
policy shows them: in no body, header, count, ordering or error of anyone else.
"""

import datetime
import json

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from mitigations.models import FigureView
from portal.lib import access
from tests.api.conftest import CALLERS, REFUSED, SEES_DRAFTS, SEES_RESTRICTED, TokenClient
from tests.factories import MitigationFactory
from tests.portal.test_access_matrix import FIGURE_KINDS, TODAY, secrets_of

ENDPOINTS = {
    "index": "/api/v1/",
    "list": "/api/v1/mitigations",
    "list_expanded": "/api/v1/mitigations?expand=figures,sources,related",
    "search": "/api/v1/mitigations?q=Quokkaterm",
    "category": "/api/v1/mitigations?category=2.2",
    "source_filter": "/api/v1/mitigations?source=matrix2024&sort=-updated",
    "detail": "/api/v1/mitigations/M100?expand=figures,sources,related",
    "figures": "/api/v1/mitigations/M100/figures",
    "taxonomy": "/api/v1/taxonomy",
    "sources": "/api/v1/sources",
    "source": "/api/v1/sources/matrix2024",
    "changes": "/api/v1/changes",
}
FIGURE_ENDPOINTS = ["list_expanded", "detail", "figures"]
DRAFT_ENDPOINTS = ["list", "list_expanded", "search", "category", "source_filter", "changes"]


def text_of(response) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
    return response.content.decode() + "\n" + headers


def draft_secrets(w):
    draft = w["draft"]
    return [draft.name, draft.slug, draft.code, "Quokkaterm", "Zebradraft"]


@pytest.mark.parametrize("caller", CALLERS, indirect=True)
@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_every_endpoint_for_every_caller(world, caller, endpoint):
    name, client = caller
    response = client.get(ENDPOINTS[endpoint])
    text = text_of(response)
    if name in REFUSED:
        assert response.status_code == 401
        assert json.loads(response.content)["error"]["code"] == "invalid_token"
        for figure in world["figures"].values():
            for secret in secrets_of(figure):
                assert secret not in response.content.decode()
        for secret in draft_secrets(world) + ["Matrix mitigation"]:
            assert secret not in text
        return
    assert response.status_code == 200, (endpoint, response.content[:300])
    if endpoint in FIGURE_ENDPOINTS:
        for kind, figure in world["figures"].items():
            visible = not FIGURE_KINDS[kind][1] or name in SEES_RESTRICTED
            for secret in secrets_of(figure):
                assert (secret in text) == visible, (name, endpoint, kind, secret)
    if endpoint == "search":
        # The draft is the only match: others get an empty page.
        assert json.loads(response.content)["count"] == (1 if name in SEES_DRAFTS else 0)
    for secret in draft_secrets(world):
        if name in SEES_DRAFTS and endpoint in DRAFT_ENDPOINTS:
            if secret in (world["draft"].name, world["draft"].code):  # in every listing
                assert secret in text, (name, endpoint, secret)
        elif name not in SEES_DRAFTS:
            assert secret not in text, (name, endpoint, secret)


def _counts(client):
    listed = json.loads(client.get("/api/v1/mitigations").content)["count"]
    tree = json.loads(client.get("/api/v1/taxonomy").content)["results"]
    top = next(c for c in tree if c["code"] == "2")
    sources = json.loads(client.get("/api/v1/sources").content)["results"]
    cited = next(s for s in sources if s["id"] == "matrix2024")["mitigation_count"]
    source = json.loads(client.get("/api/v1/sources/matrix2024").content)["mitigation_count"]
    changes = json.loads(client.get("/api/v1/changes").content)["count"]
    return listed, top["mitigation_count"], cited, source, changes


@pytest.mark.parametrize("caller", [c for c in CALLERS if c not in REFUSED], indirect=True)
def test_counts_include_drafts_only_for_editors(world, caller):
    name, client = caller
    expected = 2 if name in SEES_DRAFTS else 1
    assert _counts(client) == (expected,) * 5


@pytest.mark.parametrize("caller", [c for c in CALLERS if c not in REFUSED], indirect=True)
def test_a_draft_answers_like_a_missing_id(world, caller):
    name, client = caller
    for suffix in ("", "/figures"):
        draft = client.get(f"/api/v1/mitigations/M200{suffix}")
        missing = client.get(f"/api/v1/mitigations/M999{suffix}")
        assert missing.status_code == 404
        if name in SEES_DRAFTS:
            assert draft.status_code == 200
            assert "Zebradraft" in draft.content.decode() or suffix
        else:
            assert draft.status_code == 404
            assert draft.content == missing.content
            assert "ETag" not in draft


@pytest.mark.parametrize("caller", [c for c in CALLERS if c not in REFUSED], indirect=True)
def test_filtering_by_draft_status_is_an_unknown_value_for_non_editors(world, caller):
    name, client = caller
    draft = client.get("/api/v1/mitigations?status=draft")
    if name in SEES_DRAFTS:
        assert draft.status_code == 200
        assert [m["id"] for m in json.loads(draft.content)["results"]] == ["M200"]
        return
    bogus = client.get("/api/v1/mitigations?status=bogus")
    assert draft.status_code == bogus.status_code == 400
    assert draft.content.decode().replace("draft", "X") == bogus.content.decode().replace(
        "bogus", "X"
    )


@pytest.mark.parametrize("caller", [c for c in CALLERS if c not in REFUSED], indirect=True)
def test_a_restricted_field_is_an_unknown_field_for_those_who_may_not_see_it(world, caller):
    name, client = caller
    for field in ("preliminary", "embargo_until", "restricted"):
        asked = client.get(f"/api/v1/mitigations/M100/figures?fields=key,{field}")
        if name in SEES_RESTRICTED:
            assert asked.status_code == 200
            assert all(field in f for f in json.loads(asked.content)["results"])
            continue
        bogus = client.get("/api/v1/mitigations/M100/figures?fields=key,nosuchfield")
        assert asked.status_code == bogus.status_code == 400
        assert asked.content.decode().replace(field, "X") == bogus.content.decode().replace(
            "nosuchfield", "X"
        )
        assert "preliminary" not in asked.content.decode().replace(field, "X")


@pytest.mark.parametrize("caller", [c for c in CALLERS if c not in REFUSED], indirect=True)
def test_restricted_fields_are_absent_not_null(world, caller):
    name, client = caller
    figures = json.loads(client.get("/api/v1/mitigations/M100/figures").content)["results"]
    for figure in figures:
        present = {"preliminary", "embargo_until", "restricted"} & set(figure)
        assert present == (
            {"preliminary", "embargo_until", "restricted"} if name in SEES_RESTRICTED else set()
        )
    if name in SEES_RESTRICTED:
        flags = {f["key"]: f["restricted"] for f in figures}
        assert flags == {
            "fig_public": False,
            "fig_preliminary": True,
            "fig_embargoed": True,
            "fig_embargo_passed": False,
        }


def test_embargo_lifts_on_the_date_without_a_job(world, client, monkeypatch):
    figure = world["figures"]["embargoed"]
    figure.embargo_until = TODAY + datetime.timedelta(days=1)
    figure.save()
    url = "/api/v1/mitigations/M100/figures"
    assert figure.label not in client.get(url).content.decode()
    assert figure.label not in client.get(url).content.decode()  # from the shared cache now
    tomorrow = timezone.now() + datetime.timedelta(days=1)
    monkeypatch.setattr(timezone, "now", lambda: tomorrow)
    assert figure.label in client.get(url).content.decode()
    assert figure.label in client.get("/api/v1/mitigations/M100?expand=figures").content.decode()


def test_public_bodies_cached_for_readers_never_reach_reviewers_or_back(
    world, client, reviewer_token
):
    secret = world["figures"]["preliminary"].label
    reviewer = TokenClient(reviewer_token[1])
    url = "/api/v1/mitigations/M100?expand=figures"
    assert secret not in client.get(url).content.decode()
    assert secret in reviewer.get(url).content.decode()
    assert secret not in client.get(url).content.decode()
    assert secret in reviewer.get(url).content.decode()


def test_a_token_acts_with_its_owners_current_role(world, reviewer_token):
    token, raw = reviewer_token
    client = TokenClient(raw)
    url = "/api/v1/mitigations/M100/figures"
    secret = world["figures"]["preliminary"].label
    assert secret in client.get(url).content.decode()
    owner = token.user
    owner.groups.remove(Group.objects.get(name=access.group_name(access.REVIEWER)))
    refused = client.get(url)
    assert refused.status_code == 401
    assert secret not in refused.content.decode()
    owner.groups.add(Group.objects.get(name=access.group_name(access.REVIEWER)))
    assert client.get(url).status_code == 200
    owner.is_active = False
    owner.save()
    assert client.get(url).status_code == 401


def test_reviewer_token_reading_restricted_figures_is_audited(world, reviewer_token):
    client = TokenClient(reviewer_token[1])
    client.get("/api/v1/mitigations/M100")  # no figures asked for: nothing to record
    assert not FigureView.objects.exists()
    client.get("/api/v1/mitigations/M100/figures")
    client.get("/api/v1/mitigations?expand=figures")
    view = FigureView.objects.get()
    assert (view.user, view.mitigation, view.views) == (reviewer_token[0].user, world["page"], 1)


def test_editors_see_drafts_in_related_ids(world, editor_token):
    body = json.loads(TokenClient(editor_token[1]).get("/api/v1/mitigations/M100").content)
    assert body["related_ids"] == ["M200"]


def test_related_ids_hide_drafts_from_readers(world, client):
    MitigationFactory(code="M300", name="Public neighbour", category=world["category"])
    world["page"].related.add(MitigationFactory(code="M301", category=world["category"]))
    body = json.loads(client.get("/api/v1/mitigations/M100?expand=related").content)
    assert body["related_ids"] == ["M301"]
    assert [r["id"] for r in body["related"]] == ["M301"]


def test_cached_bodies_never_cross_roles(world, editor_token, reviewer_token, client):
    editor, reviewer = TokenClient(editor_token[1]), TokenClient(reviewer_token[1])
    url = "/api/v1/mitigations?expand=figures,related"
    secret = world["figures"]["preliminary"].label
    for _ in range(2):  # the second round comes from the cache
        assert "Zebradraft" in editor.get(url).content.decode()
        body = reviewer.get(url).content.decode()
        assert "Zebradraft" not in body and secret in body
        body = client.get(url).content.decode()
        assert "Zebradraft" not in body and secret not in body


def test_a_cached_body_repeats_the_audit_record(world, reviewer_token):
    from django.core.cache import cache

    client = TokenClient(reviewer_token[1])
    url = "/api/v1/mitigations/M100/figures"
    client.get(url)  # rendered
    reviewer = reviewer_token[0].user
    cache.delete(f"portal:figure-view:{reviewer.pk}:{world['page'].pk}:{TODAY}")
    client.get(url)  # from the cache, a minute later: recorded again
    assert FigureView.objects.get(user=reviewer).views == 2
