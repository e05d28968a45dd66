"""What a mitigation page needs from the feedback app (form and reviewers' thread)."""

from django.db.models.signals import post_delete, post_save, pre_save
from django.urls import reverse

from feedback.forms import FeedbackForm, sign_page
from feedback.models import Feedback
from mitigations.models import Mitigation
from portal.lib import access, page_cache
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


# --- The page's version (portal/lib/page_cache.py), part of the key for thread readers ------
#
# Bumped whenever feedback on the page is saved or deleted (submission, moderation, an edit
# in the admin), at once and again on commit (a page rendered in between would show the old
# thread under the new version). Cheaper than asking the database on every page view.


def _bump_thread(slug):
    page_cache.bump_page_version(slug)


def _slug_of(mitigation_id):
    return Mitigation.objects.filter(pk=mitigation_id).values_list("slug", flat=True).first()


def _feedback_changed(sender, instance, created=False, signal=None, **kwargs):
    if instance.mitigation_id is None:
        return
    in_thread = instance.status == Feedback.Status.APPROVED and instance.by_reviewer
    if (created or signal is post_delete) and not in_thread:
        return  # new feedback is pending: the thread is as it was (so are deletions of such)
    cached = Feedback.mitigation.field.get_cached_value(instance, None)
    slug = cached.slug if cached is not None else _slug_of(instance.mitigation_id)
    if slug:
        _bump_thread(slug)


def _feedback_moving(sender, instance, update_fields=None, **kwargs):
    """An edit may move feedback to another page: that page's thread changes too."""
    if instance._state.adding or (update_fields is not None and "mitigation" not in update_fields):
        return
    before = Feedback.objects.filter(pk=instance.pk).values_list("mitigation_id", flat=True)
    before = before.first()
    if before is not None and before != instance.mitigation_id:
        slug = _slug_of(before)
        if slug:
            _bump_thread(slug)


def connect():
    post_save.connect(_feedback_changed, sender=Feedback, dispatch_uid="thread-save")
    post_delete.connect(_feedback_changed, sender=Feedback, dispatch_uid="thread-delete")
    pre_save.connect(_feedback_moving, sender=Feedback, dispatch_uid="thread-move")
