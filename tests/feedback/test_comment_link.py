"""{% comment_link %} gives the HTML the included template section_link.html gave (kept in
tests/feedback/data/ as the reference)."""

from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template import Context, Template, engines
from django.test import RequestFactory

from feedback.templatetags.feedback_tags import comment_link
from tests.conftest import as_verified

REFERENCE = (Path(__file__).parent / "data" / "section_link.html").read_text()


def _reference(part, kind, label, user):
    show = not (part == "figures" and user.is_anonymous)
    query = f"part={part}" if part else ""
    if kind:
        query = f"{query}&kind={kind}" if query else f"kind={kind}"
    context = {"show": show, "part": part, "kind": kind, "label": label, "query": query}
    return engines["django"].from_string(REFERENCE).render(context)


@pytest.mark.parametrize(
    ("part", "kind", "label"),
    [
        ("definition", "", "Comment on this section"),
        ("reasoning", "classification", "Disagree with the classification"),
        ("", "source", "Suggest a <source> & more"),
        ("figures", "", "Comment on this section"),
    ],
)
@pytest.mark.parametrize("role", ["reader", "reviewer"])
def test_comment_link_is_the_templates(db, request, part, kind, label, role):
    user = as_verified(request.getfixturevalue("reviewer")) if role == "reviewer" else None
    http = RequestFactory().get("/")
    http.user = user or AnonymousUser()
    ours = comment_link(Context({"request": http}), part, kind, label)
    assert ours == _reference(part, kind, label, http.user)
    rendered = Template("{% load feedback_tags %}{% comment_link part kind label %}").render(
        Context({"request": http, "part": part, "kind": kind, "label": label})
    )
    assert rendered == ours
