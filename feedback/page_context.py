"""What a mitigation page needs from the feedback app (form and reviewers' thread)."""

from django.urls import reverse

from feedback.forms import FeedbackForm, ThreadReplyForm, sign_page
from feedback.helpful import page_token
from feedback.models import Feedback, Reply
from portal.lib import access
from portal.lib.compiled import Compiled
from portal.lib.page_cache import fresh_value

THREAD_LIMIT = 200


def page_form(request, mitigation, data=None):
    """The feedback form for a page: a fresh stamp (a marker on cached pages), the page's
    version as an opaque token.

    A "Comment on this section" link chose the part (`?part=definition#feedback`), and
    "I disagree with the classification" the kind as well; anything else in them is ignored.
    """
    initial = {
        "stamp": fresh_value(request, "feedback_stamp"),
        "page": sign_page(mitigation),
    }
    form = FeedbackForm(data, user=request.user, mitigation=mitigation, initial=initial)
    part, kind = request.GET.get("part"), request.GET.get("kind")
    if part in form.section_choices():
        form.initial["section"] = part
    if kind in Feedback.Kind.values:
        form.initial["kind"] = kind
        if kind == Feedback.Kind.CLASSIFICATION and "section" not in form.initial:
            form.initial["section"] = Feedback.Section.REASONING
    return form


# What templates/feedback/includes/thread_item.html shows (submitter, author: the names).
_NAMES = ("user__first_name", "user__last_name", "user__username")
_ITEM_FIELDS = (
    *("user", "name", "section", "kind", "created_at", "status", "resolution", "comment"),
    *("public_reply", "proposed_category__code", "proposed_category__name", *_NAMES),
)
_REPLY_FIELDS = ("feedback", "user", "comment", "created_at", *_NAMES)


# The thread's items and their replies: SQL compiled once per process and policy answer
# (portal/lib/compiled.py; the ORM's compiling of the two cost three times the queries).
_thread_items = Compiled(
    lambda page_id, user: (
        Feedback.objects.thread_for(user)
        .filter(mitigation_id=page_id)
        .select_related("user", "proposed_category")
        .only(*_ITEM_FIELDS)
        .order_by("created_at", "pk")[:THREAD_LIMIT]
    )
)
_thread_replies = Compiled(
    lambda page_id, user: (
        access.visible_replies(
            Reply.objects.filter(
                feedback__in=Feedback.objects.thread_for(user).filter(mitigation_id=page_id)
            ),
            user,
        )
        .select_related("user")
        .only(*_REPLY_FIELDS)
        .order_by("created_at", "pk")
    )
)


def thread(user, mitigation):
    """The page's reviewers' discussion for those the policy lets read it: the items with
    their shown replies as `shown_replies` (two queries, of the columns the thread shows)."""
    if not access.can_see_reviewer_thread(user):
        return []
    key = access.role_of(user)  # what the policy's filters depend on, for those who see it
    items = _thread_items(mitigation.pk, user, key=key)
    replies = {item.pk: [] for item in items}
    if items:
        for reply in _thread_replies(mitigation.pk, user, key=key):
            if reply.feedback_id in replies:  # not one of the items past THREAD_LIMIT
                replies[reply.feedback_id].append(reply)
    for item in items:
        item.shown_replies = replies[item.pk]
    return items


def _thread_of_request(request, mitigation):
    """thread() once per request and page: the page shows it twice (the "Discussion (n)"
    link at the top, the thread in the feedback section)."""
    threads = request.__dict__.setdefault("_feedback_threads", {})
    if mitigation.pk not in threads:
        threads[mitigation.pk] = thread(request.user, mitigation)
    return threads[mitigation.pk]


def discussion_size(items) -> int:
    return sum(1 + len(item.shown_replies) for item in items)


def feedback_context(request, mitigation):
    """What feedback.fragments.page_section shows (a bounded few queries).

    The thread marks the viewer's own posts ("you"): signed-in pages are rendered per viewer."""
    show_thread = access.can_see_reviewer_thread(request.user)
    items = _thread_of_request(request, mitigation) if show_thread else []
    form = page_form(request, mitigation)
    answered = request.GET.get("helpful")
    return {
        "feedback_form": form,
        "feedback_parts": form.section_choices(),
        "feedback_action": reverse("feedback:page", args=[mitigation.code]),
        "helpful_action": reverse("feedback:helpful", args=[mitigation.code]),
        "helpful_token": page_token(mitigation),
        "helpful_answered": answered if answered in ("yes", "no") else "",
        "feedback_show_thread": show_thread,
        "feedback_thread": items,
        "feedback_viewer_id": request.user.pk if show_thread else None,
        "reply_form": ThreadReplyForm() if show_thread else None,
    }


def discussion_link(request, mitigation):
    """The "Discussion (n)" link at the top of a page, for those who see the thread."""
    if not access.can_see_reviewer_thread(request.user):
        return {}
    return {"discussion_size": discussion_size(_thread_of_request(request, mitigation))}
