"""feedback/forms.py: the feedback form's fields are shared by its instances (no deep copy
per form), so nothing one form does may reach another."""

import pytest
from crispy_forms.utils import render_crispy_form
from django.contrib.auth.models import AnonymousUser

from feedback.forms import FeedbackForm
from feedback.models import Feedback
from tests.conftest import as_verified

pytestmark = pytest.mark.django_db


def _widgets(form):
    return {name: dict(field.widget.attrs) for name, field in form.fields.items()}


def test_laying_out_a_form_changes_no_other_form(mitigation, reviewer):
    before = _widgets(FeedbackForm(user=AnonymousUser(), mitigation=mitigation))
    bound = FeedbackForm({"comment": " "}, user=AnonymousUser(), mitigation=mitigation)
    assert not bound.is_valid()
    html = bound.fields_html()
    assert "is-invalid" in html  # crispy-forms marked the fields with errors…
    render_crispy_form(FeedbackForm(user=as_verified(reviewer), mitigation=mitigation))
    FeedbackForm(user=AnonymousUser()).fields_html()
    # … on copies of its own: the next forms get the fields as declared.
    assert _widgets(FeedbackForm(user=AnonymousUser(), mitigation=mitigation)) == before
    assert not FeedbackForm.declared_fields["comment"].widget.attrs.get("class")


def test_what_differs_per_form_is_a_field_of_its_own(mitigation, reviewer):
    reader_page = FeedbackForm(user=AnonymousUser(), mitigation=mitigation)
    reader_general = FeedbackForm(user=AnonymousUser())
    reviewer_page = FeedbackForm(user=as_verified(reviewer), mitigation=mitigation)
    figures = Feedback.Section.FIGURES
    assert figures not in reader_page.section_choices()
    assert figures in reviewer_page.section_choices()
    assert reader_page.fields["section"].choices[0][0] == ""  # a page's form: no default part
    assert reader_page.fields["section"].required is False
    assert reader_general.fields["section"].choices[0][0] != ""
    assert reader_general.fields["section"].required is True
    # Each variant is built once and shared; none changes another.
    again = FeedbackForm(user=AnonymousUser(), mitigation=mitigation)
    assert again.fields["section"] is reader_page.fields["section"]
    assert reader_general.fields["section"] is not reader_page.fields["section"]
    consent = "Email me at my account address when it is resolved"
    reviewer.email = "reviewer@example.org"
    assert FeedbackForm(user=reviewer).fields["contact_consent"].label == consent
    assert FeedbackForm(user=AnonymousUser()).fields["contact_consent"].label != consent
    assert "name" not in reviewer_page.fields and "name" in reader_page.fields
