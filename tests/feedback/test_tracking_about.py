"""The tracking page speaks plainly; the About page answers a reader's questions."""

import pytest
from django.urls import reverse

from tests.factories import FeedbackFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("status", "resolution", "current", "words"),
    [
        ("pending", "open", "Received", "have not read it yet"),
        ("approved", "open", "Read by an editor", "still open"),
        ("approved", "addressed", "Addressed", "acted on your feedback"),
        ("rejected", "declined", "Declined", "decided not to change the page"),
    ],
)
def test_tracking_steps(reader_client, mitigation, status, resolution, current, words):
    item = FeedbackFactory(mitigation=mitigation, status=status, resolution=resolution)
    html = reader_client.get(item.get_absolute_url()).text
    assert f'aria-current="step">{current}</li>' in html
    assert words in html
    assert f'value="http://testserver{item.get_absolute_url()}"' in html  # the copyable link
    assert "Copy link" in html
    assert reverse("changelog:changes", args=[mitigation.slug]) in html


def test_about_page(reader_client, settings):
    settings.PRIVACY_CONTACT_EMAIL = "privacy@example.org"
    html = reader_client.get(reverse("about")).text
    for words in (
        "What “still being polished” means",
        "May it be cited?",
        "Is the classification final?",
        "How review works",
        "Who runs it",
        "How to become a reviewer",
        "what the feedback form stores",
        "How long:",
        "mailto:privacy@example.org",
    ):
        assert words in html
    # Linked from the footer and from the form.
    assert f'href="{reverse("about")}"' in reader_client.get("/").text
    form = reader_client.get(reverse("feedback:general")).text
    assert f'href="{reverse("about")}#privacy"' in form


def test_who_runs_it_is_the_deployments_own_template(reader_client, settings, tmp_path):
    (tmp_path / "ours.html").write_text("<p>Run by the Example Institute.</p>")
    engine = settings.TEMPLATES[0]
    settings.TEMPLATES = [{**engine, "DIRS": [tmp_path, *engine["DIRS"]]}]
    settings.ABOUT_OPERATOR_TEMPLATE = "ours.html"
    assert "Run by the Example Institute." in reader_client.get(reverse("about")).text
