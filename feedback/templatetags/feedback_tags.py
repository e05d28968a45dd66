"""Template helpers for feedback on the site (they ask portal/lib/access.py, never decide)."""

from django import template

from feedback.page_context import discussion_link, feedback_context
from portal.lib import access

register = template.Library()


@register.filter
def page_visible_to(item, user):
    """The page a feedback item is about, if the user may know it exists; else None."""
    if item.mitigation_id and access.mitigation_is_visible(item.mitigation, user):
        return item.mitigation
    return None


@register.inclusion_tag("feedback/includes/page_section.html", takes_context=True)
def feedback_section(context, mitigation):
    """The feedback part of a mitigation page: the form, and the reviewers' thread for those
    the policy lets read it. Pages of the catalogue compose it here, so the catalogue app
    needs no import of the feedback app."""
    return {**context.flatten(), **feedback_context(context["request"], mitigation)}


@register.inclusion_tag("feedback/includes/discussion_link.html", takes_context=True)
def discussion_link_for(context, mitigation):
    """ "Discussion (n)" near the top of a page, for those who see the reviewers' thread."""
    return discussion_link(context["request"], mitigation)
