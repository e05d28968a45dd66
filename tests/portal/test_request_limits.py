"""Smaller hardening: links without a scheme count, body limits by who is asking, only GET,
HEAD and POST reach the site."""

import pytest
from django.test import Client

from feedback import antispam
from feedback.models import Feedback
from tests.factories import MitigationFactory
from tests.feedback.conftest import fill


@pytest.mark.parametrize(
    "text, links",
    [
        ("see example.com/path and evil.example and sub.a.example.co.uk/x?y", 3),
        ("https://www.example.com/x and www.example.org", 2),
        ("EXAMPLE.COM", 1),
        ("write to ada@example.org", 0),
        ("Section 3.2 of the report, i.e. e.g. the U.S. one, version 1.2.3", 0),
    ],
)
def test_bare_domains_count_as_links(text, links):
    assert antispam.count_links(text) == links


@pytest.mark.django_db
def test_feedback_with_too_many_bare_domains_is_a_form_error(settings):
    settings.FEEDBACK_MIN_SECONDS = 0
    settings.FEEDBACK_MAX_LINKS = 3
    page = MitigationFactory(code="L1")
    client = Client()
    url = f"/feedback/on/{page.code}/"
    comment = "Buy at a.example, b.example/x, c.example/y and d.example now"
    response = client.post(url, fill(client, url, comment=comment))
    assert response.status_code == 200
    assert "at most 3 links" in response.text
    assert not Feedback.objects.exists()


# --- Body limits ---------------------------------------------------------------------------


def claimed(client, path, length, **extra):
    """A POST whose Content-Length claims `length` bytes; the body itself is tiny: a 413
    shows that the limit was applied on the header, before anything read the body."""
    return client.generic(
        "POST",
        path,
        b"x=1",
        content_type="application/x-www-form-urlencoded",
        CONTENT_LENGTH=str(length),
        **extra,
    )


def real(client, path, length):
    """A POST with a real body of `length` bytes."""
    body = b"x=" + b"y" * (length - 2)
    return client.generic("POST", path, body, content_type="application/x-www-form-urlencoded")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/feedback/", "/feedback/on/L1/", "/accounts/signin/",
                                  "/admin/login/", "/mitigations/",
                                  "/admin/mitigations/mitigation/import/"])  # fmt: skip
def test_anonymous_bodies_are_limited_to_a_few_kilobytes(settings, path):
    settings.ANONYMOUS_MAX_REQUEST_BODY = 64 * 1024
    MitigationFactory(code="L1")
    assert claimed(Client(), path, 64 * 1024 + 1).status_code == 413
    assert real(Client(), path, 64 * 1024).status_code != 413


@pytest.mark.django_db
def test_signed_in_limits_and_the_import(settings, editor_client):
    settings.SIGNED_IN_MAX_REQUEST_BODY = 2 * 1024 * 1024
    settings.MAX_REQUEST_BODY = 60 * 1024 * 1024
    page = MitigationFactory(code="L1")
    change = f"/admin/mitigations/mitigation/{page.pk}/change/"
    assert claimed(editor_client, change, 2 * 1024 * 1024 + 1).status_code == 413
    assert real(editor_client, change, 512 * 1024).status_code != 413
    assert claimed(editor_client, "/feedback/", 2 * 1024 * 1024 + 1).status_code == 413
    imported = "/admin/mitigations/mitigation/import/"
    assert real(editor_client, imported, 3 * 1024 * 1024).status_code != 413
    assert claimed(editor_client, imported, 60 * 1024 * 1024 + 1).status_code == 413


# --- Methods -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["OPTIONS", "TRACE", "PUT", "DELETE", "PATCH", "PROPFIND"])
@pytest.mark.parametrize("path", ["/", "/mitigations/", "/mitigations/l-page/", "/feedback/"])
def test_other_methods_are_a_bare_405(method, path, django_assert_max_num_queries):
    MitigationFactory(code="L1", slug="l-page")
    client = Client()
    with django_assert_max_num_queries(0):
        response = client.generic(method, path)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, POST"
    assert response.content == b""
