"""What a mitigation page needs from the feedback app (form and reviewers' thread)."""

from django.urls import reverse

from feedback.forms import FeedbackForm, sign_page
from feedback.models import Feedback
from portal.lib import access
from portal.lib.page_cache import fresh_value

THREAD_LIMIT = 200


def page_form(request, mitigation, data=None):
    """The feedback form for a page: a fresh stamp (a marker on cached pages), the page's
    version as an opaque token."""
    initial = {
        "stamp": fresh_value(request, "feedback_stamp"),
        "page": sign_page(mitigation),
    }
    return FeedbackForm(data, user=request.user, mitigation=mitigation, initial=initial)


def thread(user, mitigation):
    """Approved reviewer feedback on the page, for those the policy lets read it (one query)."""
    return list(
        Feedback.objects.thread_for(user)
        .on_page(mitigation)
        .select_related("user", "proposed_category")
        .order_by("created_at", "pk")[:THREAD_LIMIT]
    )


def feedback_context(request, mitigation):
    """Context for templates/feedback/includes/page_section.html (a bounded few queries)."""
    show_thread = access.can_see_reviewer_thread(request.user)
    return {
        "feedback_form": page_form(request, mitigation),
        "feedback_action": reverse("feedback:page", args=[mitigation.code]),
        "feedback_show_thread": show_thread,
        "feedback_thread": thread(request.user, mitigation) if show_thread else [],
    }
