"""Template helpers for feedback on the site (they ask portal/lib/access.py, never decide)."""

from urllib.parse import urlencode

from django import template
from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.timezone import template_localtime

from feedback import changelog, fragments
from feedback.changelog_views import cite
from feedback.models import Feedback, open_work_q
from feedback.page_context import discussion_link, feedback_context
from portal.lib import access

register = template.Library()


@register.filter
def page_visible_to(item, user):
    """The page a feedback item is about, if the user may know it exists; else None."""
    if item.mitigation_id and access.mitigation_is_visible(item.mitigation, user):
        return item.mitigation
    return None


@register.simple_tag(takes_context=True)
def feedback_section(context, mitigation):
    """The feedback part of a mitigation page: the form, and the reviewers' thread for those
    the policy lets read it. Pages of the catalogue compose it here, so the catalogue app
    needs no import of the feedback app. The page's CSRF token (a marker on a rendering for
    the cache) goes into its forms."""
    return fragments.page_section(
        feedback_context(context["request"], mitigation),
        code=mitigation.code,
        csrf_token=context.get("csrf_token"),
    )


@register.inclusion_tag("feedback/includes/discussion_link.html", takes_context=True)
def discussion_link_for(context, mitigation):
    """ "Discussion (n)" near the top of a page, for those who see the reviewers' thread."""
    return discussion_link(context["request"], mitigation)


@register.simple_tag(takes_context=True)
def comment_link(context, part, kind="", label="Comment on this section"):
    """A "Comment on this section" link: the page's own form with the part chosen (an anchor
    and a query parameter, so it works without JavaScript). Figures are a part only for those
    who may see restricted ones (the form offers that part to no one else).

    Built here rather than by an included template: a page has nine (the HTML
    templates/feedback/includes/section_link.html made, tests/feedback/test_page.py)."""
    user = context["request"].user
    if part == "figures" and not access.can_see_restricted_figures(user):
        return mark_safe("\n")  # noqa: S308 - no user text
    query = f"part={part}" if part else ""
    if kind:
        query = f"{query}&kind={kind}" if query else f"kind={kind}"
    data_kind = format_html(' data-kind="{}"', kind) if kind else ""
    return format_html(
        '<a class="section-feedback no-print" href="?{}#feedback" data-part="{}"{}>{}</a>\n',
        query,
        part,
        data_kind,
        label,
    )


HISTORY_SHOWN = 3


def _date(value, fmt):
    """`{{ value|date:fmt }}`: the date filter on the value in the current time zone."""
    return date_filter(template_localtime(value), fmt)


POLISHING_NOTE = mark_safe(  # noqa: S308 - no user text
    ". <strong>This page is still being polished:</strong> it may be cited, but its "
    "wording and classification may still change; cite the version."
)


def _citation_html(c):
    """templates/feedback/includes/citation.html, in Python (a page's "Cite this page")."""
    polishing = POLISHING_NOTE if c["polishing"] else ""
    return format_html(
        '<details class="citation no-print-summary" id="cite">\n'
        "  <summary>Cite this page</summary>\n"
        '  <div class="mt-2">\n'
        '    <p class="small mb-2">Version {} of {}: <a href="{}">{}</a>{}</p>\n'
        '    <h3 class="h6">Plain text</h3>\n'
        '    <p class="citation-text">{}</p>\n'
        '    <h3 class="h6">BibTeX</h3>\n'
        '    <pre class="citation-code" tabindex="0"><code>{}</code></pre>\n'
        '    <h3 class="h6">CSL-JSON</h3>\n'
        '    <pre class="citation-code" tabindex="0"><code>{}</code></pre>\n'
        "  </div>\n"
        "</details>\n",
        c["number"],
        date_filter(c["date"], "j F Y"),
        c["url"],
        c["url"],
        polishing,
        c["plain"],
        c["bibtex"],
        c["csl_json"],
    )


def _history_item(c):
    return format_html(
        '<li><time datetime="{}">{}</time> · <a href="{}">Version {}</a>: {}</li>',
        _date(c.date, "c"),
        _date(c.date, "j M Y"),
        c.get_absolute_url(),
        c.number,
        c.summary,
    )


def page_review_html(changes, changes_url, citation):
    """The "History and citation" section (the template it replaced is kept in
    tests/feedback/data/templates/page_review.html): one format_html per line instead of a
    template with an include, as the page's other repeated parts (mitigations/fragments.py)."""
    if not (citation or changes):
        return mark_safe("\n")  # noqa: S308 - no user text
    history = ""
    if changes:
        history = format_html(
            '\n  <ul class="list-unstyled small page-history">\n    {}\n  </ul>\n'
            '  <p class="small"><a href="{}">Full history of this page</a> · '
            '<a href="{}">Recent changes across the database</a></p>\n  ',
            mark_safe("".join(_history_item(c) for c in changes)),  # noqa: S308 - format_html
            changes_url,
            reverse("changelog:recent"),
        )
    return format_html(
        '\n<section aria-labelledby="sec-history" class="mt-4 page-review">\n'
        '  <h2 id="sec-history" class="h4">History and citation</h2>\n  {}\n  {}\n'
        "</section>\n\n",
        history,
        _citation_html(citation) if citation else "",
    )


@register.simple_tag(takes_context=True)
def page_review(context, mitigation):
    """A page's latest changes and "Cite this page" (its newest public version)."""
    request = context["request"]
    changes = changelog.page_changes(mitigation)
    latest = changes[-1] if changes else None
    return page_review_html(
        list(reversed(changes[-HISTORY_SHOWN:])),
        reverse("changelog:changes", args=[mitigation.slug]),
        cite(request, mitigation, latest) if latest else None,
    )


@register.inclusion_tag("feedback/includes/editor_tools.html", takes_context=True)
def editor_tools(context, mitigation):
    """For editors only: "Edit in admin" and the page's open feedback, counted now.

    Never part of a cached rendering: signed-in users' pages are not cached
    (page_cache._cacheable), and a rendering made for the cache shows nothing here whoever
    triggered it."""
    request = context.get("request")
    if (
        request is None
        or getattr(request, "_rendering_for_cache", False)
        or not access.can_moderate(request.user)
    ):
        return {"show": False}
    open_count = Feedback.objects.filter(open_work_q(), mitigation=mitigation).count()
    queue = reverse("admin:feedback_feedback_changelist")
    return {
        "show": True,
        "edit_url": reverse("admin:mitigations_mitigation_change", args=[mitigation.pk]),
        "open_count": open_count,
        "queue_url": f"{queue}?{urlencode({'page': mitigation.code, 'due': 'open'})}",
    }
