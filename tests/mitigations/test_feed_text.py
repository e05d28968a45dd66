"""The Atom feed declares its summaries as plain text (definitions are not HTML)."""

import xml.etree.ElementTree as ET

import pytest
from django.test import Client

from tests.factories import MitigationFactory

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.mark.django_db
def test_feed_summaries_are_text():
    MitigationFactory(code="A1", definition='<img src=x onerror="alert(1)"> & <b>bold</b>')
    response = Client().get("/mitigations/feed.atom")
    assert response.status_code == 200
    root = ET.fromstring(response.content)  # noqa: S314 (our own response)
    (summary,) = root.iter(f"{ATOM}summary")
    assert summary.get("type") == "text"
    assert summary.text == '<img src=x onerror="alert(1)"> & <b>bold</b>'
    assert b"<img" not in response.content  # escaped in the XML
