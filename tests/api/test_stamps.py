"""Per-viewer stamps in API responses (portal/lib/stamps.py): a response holding restricted
figures carries the viewer's stamp, shaped like the JSON download's, and trace_leak names the
account from a leaked body. Public responses never carry one."""

import io
import json

import pytest
from django.core.management import call_command

from mitigations.models import FigureView
from portal.lib import stamps
from tests.api.conftest import TokenClient
from tests.factories import FigureFactory, MitigationFactory
from tests.portal.test_access_matrix import TODAY

STAMPED = [
    "/api/v1/mitigations/M100?expand=figures",
    "/api/v1/mitigations/M100?expand=figures&fields=id",
    "/api/v1/mitigations/M100/figures",
    "/api/v1/mitigations/M100/figures?fields=key,value",  # without the `restricted` field
    "/api/v1/mitigations?expand=figures",
    "/api/v1/mitigations?expand=figures&q=matrix",
]
UNSTAMPED = [
    "/api/v1/mitigations/M100",
    "/api/v1/mitigations",
    "/api/v1/mitigations?expand=sources,related",
    "/api/v1/taxonomy",
    "/api/v1/sources",
    "/api/v1/changes",
]


def _trace(text) -> str:
    out = io.StringIO()
    call_command("trace_leak", text, stdout=out)
    return out.getvalue()


def _expected_stamp(user):
    return {
        "notice": stamps.NOTICE,
        "seen_by": f"seen by {user.username}, {TODAY.strftime('%-d %b %Y')}",
        "day": TODAY.isoformat(),
        "ref": stamps.mark(user.pk, TODAY),
    }


@pytest.mark.parametrize("url", STAMPED)
def test_restricted_figures_carry_the_token_owners_stamp(world, url, reviewer_token):
    token, raw = reviewer_token
    response = TokenClient(raw).get(url)
    assert response.status_code == 200
    assert json.loads(response.content)["stamp"] == _expected_stamp(token.user)
    assert response["Cache-Control"] == "private, no-store" and "ETag" not in response


@pytest.mark.parametrize("url", STAMPED)
def test_a_verified_session_gets_its_own_stamp(world, url, editor, editor_client):
    data = json.loads(editor_client.get(url).content)
    assert data["stamp"] == _expected_stamp(editor)


@pytest.mark.parametrize("url", STAMPED + UNSTAMPED)
def test_public_responses_never_carry_a_stamp(world, url, client, plain_client):
    for caller in (client, plain_client):
        response = caller.get(url)
        assert response.status_code == 200
        assert "stamp" not in json.loads(response.content)
        assert "seen by" not in response.content.decode() and "ETag" in response
    # Their validators still work.
    again = client.get(url, HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


@pytest.mark.parametrize("url", UNSTAMPED)
def test_no_stamp_without_restricted_figures_in_the_body(world, url, reviewer_token):
    data = json.loads(TokenClient(reviewer_token[1]).get(url).content)
    assert "stamp" not in data and "seen by" not in json.dumps(data)


def test_no_stamp_when_the_figures_shown_are_all_public(world, reviewer_token):
    page = MitigationFactory(code="M300", name="Only public figures")
    FigureFactory(mitigation=page, key="pub", preliminary=False, embargo_until=None)
    client = TokenClient(reviewer_token[1])
    for url in ("/api/v1/mitigations/M300?expand=figures", "/api/v1/mitigations/M300/figures"):
        data = json.loads(client.get(url).content)
        assert data.get("figures", data.get("results")) and "stamp" not in data


def test_the_stamp_has_the_json_downloads_shape(world, reviewer, reviewer_client):
    download = json.loads(reviewer_client.get("/mitigations/export.json").content)["stamp"]
    api = json.loads(reviewer_client.get(STAMPED[0]).content)["stamp"]
    assert api == download == _expected_stamp(reviewer)


def test_trace_leak_names_the_token_owner_from_an_api_body(
    world, reviewer_token, editor_token, tmp_path
):
    owner = reviewer_token[0].user
    TokenClient(editor_token[1]).get(STAMPED[0])  # another viewer's audit row
    body = TokenClient(reviewer_token[1]).get(STAMPED[0]).content.decode()
    # As a visible stamp, in the body pasted or saved.
    saved = tmp_path / "leak.json"
    saved.write_text(body)
    for leak in (body, saved):
        out = _trace(str(leak))
        assert f"{owner.username} (id {owner.pk}" in out and "visible stamp" in out
        assert editor_token[0].user.username not in out
    # Without it, by the mark: through the audit of restricted views ...
    data = json.loads(body)
    del data["stamp"]["seen_by"]
    leaked = json.dumps(data, indent=2)  # re-indented, as a copy might be
    assert owner.username not in leaked
    out = _trace(leaked)
    assert owner.username in out and "invisible mark (audit)" in out
    assert editor_token[0].user.username not in out
    # ... and with no audit row, among the accounts that may see restricted figures.
    FigureView.objects.all().delete()
    out = _trace(leaked)
    assert owner.username in out and "invisible mark of" in out
    assert editor_token[0].user.username not in out


def test_trace_leak_reads_the_json_downloads_ref(world, reviewer, reviewer_client):
    data = json.loads(reviewer_client.get("/mitigations/export.json").content)
    leaked = json.dumps({"stamp": {"ref": data["stamp"]["ref"]}})
    assert reviewer.username in _trace(leaked)
    assert "No stamp found." in _trace('{"ref": "0123456789abcdef"}')
