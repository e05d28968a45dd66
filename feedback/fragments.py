"""The feedback part of a mitigation page as Python: the HTML of the templates it replaced
(page_section.html, kept in tests/feedback/data/templates/; form.html and thread_item.html
with reply_form.html for an unbound reply form, which other pages still include), made for
less.

The template includes a reply form per item: rendered by the template engine an item cost
0.4 ms of a reviewer's page (bench/profile_page.py). Each value goes through the filter the
template used (escape, linebreaksbr, date in the current time zone), so the output is the
template's, byte for byte (tests/feedback/test_fragments.py renders both). The template stays
for the reply page (templates/feedback/reply.html), whose form may show errors.
"""

from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import linebreaksbr
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.timezone import template_localtime

YOU = mark_safe(' <span class="badge text-bg-secondary">you</span>')  # noqa: S308 - no user text


def _when(value):
    value = template_localtime(value)
    return format_html('<time datetime="{}">{}</time>', date_filter(value, "c"),
                       date_filter(value, "j M Y"))  # fmt: skip


def _lines(text):
    return linebreaksbr(text, autoescape=True)


def _state(item):
    if item.resolution == "addressed":
        return '<span class="badge resolution-addressed">Addressed</span>'
    if item.resolution == "declined":
        return '<span class="badge resolution-declined">Declined</span>'
    if item.status == "pending":
        return '<span class="badge status-pending">Not yet read by the editors</span>'
    return '<span class="badge resolution-open">Open</span>'


def _reply(r, viewer_id):
    return format_html(
        '\n    <li class="thread-reply"><p class="small mb-1"><strong>{}</strong>{} · {}</p>'
        '<p class="mb-0">{}</p></li>\n    ',
        r.author,
        YOU if viewer_id and r.user_id == viewer_id else "",
        _when(r.created_at),
        _lines(r.comment),
    )


def _reply_form(action, ref, form, csrf_token):
    """reply_form.html for an unbound form (no errors, no value)."""
    field = form["comment"]
    return format_html(
        '<form method="post" action="{action}" class="reply-form mt-2" novalidate>\n'
        "  {csrf}\n"
        "  \n"
        '  <label class="form-label small" for="reply-{ref}">{label}</label>\n'
        '  <textarea class="form-control form-control-sm" name="comment" id="reply-{ref}" '
        'rows="3" aria-describedby="reply-{ref}-help"></textarea>\n'
        "  \n"
        '  <div class="form-text" id="reply-{ref}-help">{help}</div>\n'
        '  <button type="submit" class="btn btn-sm btn-outline-primary mt-1">Post reply</button>\n'
        "</form>\n",
        action=action,
        csrf=csrf_input(csrf_token),
        ref=ref,
        label=field.label,
        help=field.help_text,
    )


def thread_item(item, *, code, viewer_id, reply_form, csrf_token):
    ref = item.thread_ref
    category = item.proposed_category
    proposes = ""
    if category:
        proposes = format_html(
            '<p class="small mb-1">Proposes <span class="code-badge">{}</span> {}</p>',
            category.code,
            category.name,
        )
    editors = ""
    if item.public_reply:
        editors = format_html(
            '<div class="reply editors-reply"><p class="small fw-semibold mb-1">Editors\' reply'
            '</p><p class="mb-0">{}</p></div>',
            _lines(item.public_reply),
        )
    replies = ""
    if item.shown_replies:
        replies = format_html(
            '\n  <ol class="thread-replies list-unstyled ms-3 mt-2" aria-label="Replies to {}">'
            "\n    {}\n  </ol>\n  ",
            item.submitter,
            mark_safe("".join(_reply(r, viewer_id) for r in item.shown_replies)),  # noqa: S308
        )
    form = ""
    if reply_form:
        action = reverse("feedback:reply", args=[code, ref])
        form = format_html(
            '<details class="ms-3"><summary class="small">Reply</summary>{}</details>',
            _reply_form(action, ref, reply_form, csrf_token),
        )
    return format_html(
        '<article class="thread-item" id="fb-item-{ref}" aria-labelledby="fb-item-{ref}-title">\n'
        '  <h4 class="h6 mb-1" id="fb-item-{ref}-title">{submitter}{you} '
        '<span class="small text-body-secondary fw-normal">· {section} · {kind} · {when}'
        "</span></h4>\n"
        '  <p class="small mb-1">{state}</p>\n'
        "  {proposes}\n"
        '  <p class="mb-1 thread-comment">{comment}</p>\n'
        "  {editors}\n"
        "  {replies}\n"
        "  {form}\n"
        "</article>\n",
        ref=ref,
        submitter=item.submitter,
        you=YOU if viewer_id and item.user_id == viewer_id else "",
        section=item.get_section_display(),
        kind=item.get_kind_display(),
        when=_when(item.created_at),
        state=mark_safe(_state(item)),  # noqa: S308 - no user text
        proposes=proposes,
        comment=_lines(item.comment),
        editors=editors,
        replies=replies,
        form=form,
    )


def thread_items(items, *, code, viewer_id, reply_form, csrf_token):
    """The items of page_section.html's thread, one after the other."""
    return mark_safe(  # noqa: S308 - every value is escaped by format_html
        "".join(
            thread_item(
                i, code=code, viewer_id=viewer_id, reply_form=reply_form, csrf_token=csrf_token
            )
            for i in items
        )  # fmt: skip
    )


def csrf_input(token):
    """`{% csrf_token %}` for the page's token (a marker on a rendering for the cache)."""
    if not token or token == "NOTPROVIDED":  # noqa: S105 - Django's "no request" value
        return ""
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)


FORM_ERRORS = mark_safe(  # noqa: S308 - no user text
    '<div class="alert alert-danger" role="alert"><p class="mb-0"><strong>Your feedback was '
    "not sent yet.</strong> Please check the messages below.</p></div>"
)


def feedback_form(form, action, csrf_token):
    """templates/feedback/includes/form.html (which the feedback pages still include)."""
    return format_html(
        '\n<form method="post" action="{}" class="feedback-form" novalidate>\n'
        "  {}\n  {}\n  {}\n  {}\n"
        '  <p class="small text-body-secondary">What we keep and for how long: see '
        '<a href="{}#privacy">privacy</a>.</p>\n'
        '  <button type="submit" class="btn btn-primary">Send feedback</button>\n'
        "</form>\n"
        '<script src="{}" defer></script>\n',
        action,
        csrf_input(csrf_token),
        FORM_ERRORS if form.errors else "",
        form.fields_html(),
        form.taxonomy_datalist(),
        reverse("about"),
        static("js/feedback.js"),
    )


HELPFUL_ANSWERED = {
    "yes": mark_safe(  # noqa: S308 - no user text
        '\n  <p class="mb-0" role="status"><strong>Thank you!</strong> Glad this page helped.'
        "</p>\n  "
    ),
    "no": mark_safe(  # noqa: S308 - no user text
        '\n  <p class="mb-0" role="status"><strong>Thank you for telling us.</strong> What was '
        "missing or wrong? The form below goes to the editors.</p>\n  "
    ),
}


def _helpful(c, csrf_token):
    if c["helpful_answered"] in HELPFUL_ANSWERED:
        return HELPFUL_ANSWERED[c["helpful_answered"]]
    return format_html(
        '\n  <form method="post" action="{}" class="helpful-form d-flex gap-2">\n'
        '    {}<input type="hidden" name="token" value="{}">\n'
        '    <button class="btn btn-sm btn-outline-dark" type="submit" name="answer" '
        'value="yes">Yes</button>\n'
        '    <button class="btn btn-sm btn-outline-dark" type="submit" name="answer" '
        'value="no">No</button>\n'
        "  </form>\n  ",
        c["helpful_action"],
        csrf_input(csrf_token),
        c["helpful_token"],
    )


def _thread(c, code, csrf_token):
    if not c["feedback_show_thread"]:
        return ""
    items = c["feedback_thread"]
    if items:
        shown = thread_items(items, code=code, viewer_id=c["feedback_viewer_id"],
                             reply_form=c["reply_form"], csrf_token=csrf_token)  # fmt: skip
    else:
        shown = mark_safe(  # noqa: S308 - no user text
            '\n    <p class="text-body-secondary">No reviewer has posted on this page yet.'
            "</p>\n    "
        )
    return format_html(
        '\n  <div class="feedback-thread mb-4">\n'
        '    <h3 class="h5" id="discussion">Reviewers\' discussion</h3>\n'
        '    <p class="small text-body-secondary">Only reviewers and editors see this discussion. '
        "Reviewers' posts and replies show here at once; editors may hide any.</p>\n"
        "    {}\n  </div>\n  ",
        shown,
    )


def page_section(c, *, code, csrf_token):
    """The feedback part of a mitigation page from feedback.page_context.feedback_context
    `c` (the template it replaced is kept in tests/feedback/data/templates/)."""
    return format_html(
        '<section id="helpful" class="helpful-box no-print mt-5 d-flex flex-wrap '
        'align-items-center gap-2" aria-labelledby="helpful-title">\n'
        '  <h2 id="helpful-title" class="h6 mb-0 me-2">Was this page helpful?</h2>\n'
        "  {}\n</section>\n"
        '<section id="feedback" class="feedback-section mt-4 pt-4 border-top" '
        'aria-labelledby="feedback-title">\n'
        '  <h2 id="feedback-title" class="h4">Feedback</h2>\n'
        "  {}\n"
        '  <h3 class="h5">Tell us what to improve on this page</h3>\n'
        '  <p class="small text-body-secondary">Your feedback goes to the database editors, who '
        "read every message. You will get a private link to follow what happens to it.</p>\n"
        "  {}\n</section>\n",
        _helpful(c, csrf_token),
        _thread(c, code, csrf_token),
        feedback_form(c["feedback_form"], c["feedback_action"], csrf_token),
    )
