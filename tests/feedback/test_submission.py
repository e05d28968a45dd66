"""Submitting feedback as each role: attribution, page version, thank-you and tracking."""

import re

import pytest
from django.core import signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from feedback import antispam
from feedback.models import Feedback
from portal.lib.clientip import client_ip
from tests.factories import CategoryFactory, FeedbackFactory, MitigationFactory
from tests.feedback.conftest import fill, hidden_fields

pytestmark = pytest.mark.django_db

EXPECTED = {
    # role: (attributed to the account, by_reviewer, figures section offered)
    "reader": (False, False, False),
    "plain": (True, False, False),
    "reviewer": (True, True, True),
    "editor": (True, True, True),
}


def page_url(mitigation):
    return reverse("feedback:page", args=[mitigation.code])


def test_each_role_submits_and_is_attributed(role_client, mitigation, request):
    role, client = role_client
    attributed, by_reviewer, figures = EXPECTED[role]
    page = client.get(mitigation.get_absolute_url())
    html = page.content.decode()
    assert 'id="feedback"' in html and 'class="feedback-section' in html
    assert ('value="figures"' in html) is figures

    data = fill(client, mitigation.get_absolute_url(), section="reasoning", kind="suggestion")
    response = client.post(page_url(mitigation), data)
    assert response.status_code == 302

    item = Feedback.objects.get()
    assert response["Location"] == reverse("feedback:thanks", args=[item.token])
    assert item.mitigation == mitigation
    assert item.page_version == mitigation.version is not None
    assert (item.section, item.kind) == ("reasoning", "suggestion")
    assert item.status == "pending" and item.resolution == "open"
    assert item.by_reviewer is by_reviewer
    if attributed:
        user = request.getfixturevalue({"plain": "plain_user"}.get(role, role))
        assert item.user == user
    else:
        assert item.user is None
    assert item.history.get().history_user == item.user


def test_figures_section_refused_for_readers(reader_client, mitigation):
    data = fill(reader_client, page_url(mitigation), section="figures")
    response = reader_client.post(page_url(mitigation), data)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Feedback.objects.exists()


def test_figures_section_accepted_for_reviewers(reviewer_client, mitigation):
    data = fill(reviewer_client, page_url(mitigation), section="figures")
    assert reviewer_client.post(page_url(mitigation), data).status_code == 302
    assert Feedback.objects.get().section == "figures"


def test_ip_is_stored_only_as_a_keyed_hash(reader_client, mitigation):
    data = fill(reader_client, page_url(mitigation))
    reader_client.post(page_url(mitigation), data, REMOTE_ADDR="203.0.113.9")
    item = Feedback.objects.get()
    assert "203.0.113.9" not in item.ip_hash
    assert len(item.ip_hash) == 64
    assert item.ip_hash != antispam.ip_hash(type("R", (), {"META": {"REMOTE_ADDR": "1.2.3.4"}}))


def test_page_version_is_the_version_the_reader_saw(reader_client, mitigation):
    data = fill(reader_client, mitigation.get_absolute_url())
    seen = mitigation.version
    mitigation.definition = "A changed definition."
    mitigation.save()
    assert mitigation.version != seen
    reader_client.post(page_url(mitigation), data)
    assert Feedback.objects.get().page_version == seen


def test_tampered_page_version_is_refused(reader_client, mitigation):
    other = MitigationFactory()
    data = fill(reader_client, page_url(mitigation))
    data["page"] = signing.dumps([other.pk, 1], salt="feedback.page_context-version")
    response = reader_client.post(page_url(mitigation), data)
    assert "does not match the page" in response.content.decode()
    data["page"] = "garbage"
    assert "does not match the page" in reader_client.post(page_url(mitigation), data).text
    assert not Feedback.objects.exists()


def test_draft_page_takes_no_feedback_from_readers(reader_client):
    draft = MitigationFactory(status="draft")
    assert reader_client.get(page_url(draft)).status_code == 404
    assert reader_client.post(page_url(draft), {"comment": "x"}).status_code == 404


def test_general_feedback(reader_client):
    url = reverse("feedback:general")
    page = reader_client.get(url)
    assert page.status_code == 200
    assert 'value="figures"' not in page.text
    data = fill(reader_client, url, section="other", kind="suggestion")
    response = reader_client.post(url, data)
    assert response.status_code == 302
    item = Feedback.objects.get()
    assert item.mitigation is None and item.page_version is None


def test_error_rerenders_the_page_form_with_the_page_name(reader_client, mitigation):
    data = fill(reader_client, page_url(mitigation), comment="   ")
    response = reader_client.post(page_url(mitigation), data)
    assert response.status_code == 200
    html = response.text
    assert mitigation.name in html
    assert "Please write your feedback" in html or "This field is required" in html
    assert 'aria-invalid="true"' in html
    assert 'role="alert"' in html


def test_anonymous_contact_needs_consent(reader_client, mitigation):
    data = fill(reader_client, page_url(mitigation), name="Ada", email="ada@example.org")
    response = reader_client.post(page_url(mitigation), data)
    assert "Tick this box" in response.text
    assert not Feedback.objects.exists()

    data = fill(reader_client, page_url(mitigation), contact_consent="on")
    assert "Give an email address" in reader_client.post(page_url(mitigation), data).text

    data = fill(
        reader_client,
        page_url(mitigation),
        name="Ada",
        email="ada@example.org",
        contact_consent="on",
    )
    assert reader_client.post(page_url(mitigation), data).status_code == 302
    item = Feedback.objects.get()
    assert (item.name, item.email, item.contact_consent) == ("Ada", "ada@example.org", True)


def test_signed_in_users_do_not_give_name_or_email(reviewer_client, reviewer, mitigation):
    page = reviewer_client.get(page_url(mitigation)).text
    assert 'name="email"' not in page and 'name="name"' not in page
    data = fill(
        reviewer_client,
        page_url(mitigation),
        name="Spoof",
        email="spoof@example.org",
        contact_consent="on",
    )
    assert reviewer_client.post(page_url(mitigation), data).status_code == 302
    item = Feedback.objects.get()
    assert item.user == reviewer and item.name == "" and item.email == ""
    assert item.contact_consent is True  # emailed at the account address


def test_proposed_category_must_exist(reader_client, mitigation):
    category = CategoryFactory(code="2.2.2", name="Testing & Evaluation")
    page = reader_client.get(page_url(mitigation)).text
    assert '<datalist id="fb-taxonomy-codes">' in page
    assert '<option value="2.2.2">2.2.2 Testing &amp; Evaluation</option>' in page
    data = fill(
        reader_client, page_url(mitigation), kind="classification", proposed_category="7.7.7"
    )
    response = reader_client.post(page_url(mitigation), data)
    assert "no taxonomy category with the code" in response.text
    data["proposed_category"] = "2.2.2"
    assert reader_client.post(page_url(mitigation), data).status_code == 302
    assert Feedback.objects.get().proposed_category == category


def test_thanks_page_shows_private_tracking_link(reader_client, mitigation):
    data = fill(reader_client, page_url(mitigation))
    thanks = reader_client.post(page_url(mitigation), data, follow=True)
    item = Feedback.objects.get()
    assert thanks.status_code == 200
    assert f"/feedback/t/{item.token}/" in thanks.text
    assert thanks["Referrer-Policy"] == "no-referrer"
    assert '<meta name="robots" content="noindex">' in thanks.text
    assert mitigation.name in thanks.text


def test_tracking_page(reader_client, mitigation):
    item = FeedbackFactory(
        mitigation=mitigation,
        comment="Wrong year for the source.",
        ip_hash="f" * 64,
        status="approved",
        resolution="addressed",
        public_reply="Fixed, thanks!",
    )
    response = reader_client.get(f"/feedback/t/{item.token}/")
    assert response.status_code == 200
    html = response.text
    assert '<meta name="robots" content="noindex">' in html
    assert response["Referrer-Policy"] == "no-referrer"
    for text in (
        "Approved",
        "Addressed",
        "Fixed, thanks!",
        "Wrong year for the source.",
        mitigation.name,
        item.get_section_display(),
    ):
        assert text in html
    assert "f" * 64 not in html
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]


def test_tracking_page_hides_spam_label_and_draft_pages(reader_client):
    draft = MitigationFactory(status="draft", name="Secret draft page")
    item = FeedbackFactory(mitigation=draft, status="spam")
    html = reader_client.get(item.get_absolute_url()).text
    assert "Secret draft page" not in html
    assert "Rejected" in html and "Spam" not in html


@pytest.mark.parametrize("token", ["x" * 43, "nope", "a" * 65, "../../etc"])
def test_unknown_tracking_token_is_404(reader_client, token):
    FeedbackFactory()
    assert reader_client.get(f"/feedback/t/{token}/").status_code == 404
    assert reader_client.get(f"/feedback/thanks/{token}/").status_code == 404


def test_token_is_unguessable():
    tokens = {Feedback().token for _ in range(50)}
    assert len(tokens) == 50
    assert all(len(t) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", t) for t in tokens)


def test_cached_anonymous_page_gets_fresh_stamp_and_working_csrf(mitigation):
    first = Client(enforce_csrf_checks=True)
    second = Client(enforce_csrf_checks=True)
    a = hidden_fields(first.get(mitigation.get_absolute_url()).text)
    b = hidden_fields(second.get(mitigation.get_absolute_url()).text)  # from the page cache
    assert "<~" not in a["stamp"] + b["stamp"]
    assert a["stamp"] != b["stamp"]
    assert antispam.check_stamp(a["stamp"]) != antispam.check_stamp(b["stamp"])
    for client, hidden in ((first, a), (second, b)):
        data = {**hidden, "section": "definition", "kind": "error", "comment": "Fine."}
        assert client.post(page_url(mitigation), data).status_code == 302
    assert Feedback.objects.count() == 2


def test_missing_csrf_token_is_refused(mitigation):
    client = Client(enforce_csrf_checks=True)
    data = fill(client, page_url(mitigation))
    data.pop("csrfmiddlewaretoken")
    assert client.post(page_url(mitigation), data).status_code == 403
    assert not Feedback.objects.exists()


def test_client_ip_behind_proxy_is_hashed(settings, reader_client, mitigation):
    settings.TRUSTED_PROXY_COUNT = 1
    data = fill(reader_client, page_url(mitigation))
    reader_client.post(
        page_url(mitigation), data, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.7"
    )
    request = type(
        "R", (), {"META": {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.7"}}
    )
    assert client_ip(request) == "198.51.100.7"
    assert Feedback.objects.get().ip_hash == antispam.ip_hash(request)


def _page_queries(queries):
    """Queries about the page: its row, its history (the version the form was made from)."""
    tables = ('"mitigations_mitigation"', '"mitigations_historicalmitigation"')
    return [q["sql"] for q in queries if any(table in q["sql"] for table in tables)]


def test_page_posted_to_is_remembered_until_the_catalogue_changes(reader_client, mitigation):
    url = page_url(mitigation)
    assert reader_client.post(url, fill(reader_client, url)).status_code == 302
    data = fill(reader_client, url, comment="Second note.")
    with CaptureQueriesContext(connection) as queries:
        assert reader_client.post(url, data).status_code == 302
    assert _page_queries(queries) == []
    assert Feedback.objects.filter(mitigation=mitigation).count() == 2
    # A change to the catalogue (here: the page becomes a draft) is seen at once.
    data = fill(reader_client, url, comment="Third note.")
    mitigation.status = "draft"
    mitigation.save()
    assert reader_client.post(url, data).status_code == 404
    assert Feedback.objects.count() == 2


def test_page_posted_to_is_remembered_per_policy_variant(reader_client, editor_client):
    draft = MitigationFactory(status="draft")
    url = page_url(draft)
    data = fill(editor_client, url)
    assert editor_client.post(url, data).status_code == 302  # editors see drafts
    assert reader_client.post(url, {**data, "comment": "x"}).status_code == 404
    assert Feedback.objects.count() == 1


def test_a_form_error_shows_the_whole_page_again_after_a_remembered_lookup(
    reader_client, mitigation
):
    url = page_url(mitigation)
    assert reader_client.post(url, fill(reader_client, url)).status_code == 302
    response = reader_client.post(url, fill(reader_client, url, comment="  "))
    assert response.status_code == 200
    assert mitigation.name in response.text and mitigation.definition in response.text
