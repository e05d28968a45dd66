"""Template helpers for feedback on the site (they ask portal/access.py, never decide)."""

from django import template

from portal import access

register = template.Library()


@register.filter
def page_visible_to(item, user):
    """The page a feedback item is about, if the user may know it exists; else None."""
    if item.mitigation_id and access.mitigation_is_visible(item.mitigation, user):
        return item.mitigation
    return None
