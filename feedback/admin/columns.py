"""The queue's columns as HTML: comment, page and section, kind, who, age, badges, decisions.

Each method of Page takes a feedback row (with its page, submitter and claimer selected)
and returns safe HTML with every value escaped. The ModelAdmin's list_display methods call
them (through the functions at the end), and so do the hand-built rows (rows.py), with one
Page for all the rows: both paths print the same bytes.

The decision buttons belong to one small form outside the changelist's own form
(`<form id="fb-decide">` in the change_list template; `form="fb-decide"` on each button), so
that a row decision is a plain POST with the CSRF token, handled by
FeedbackAdmin.decide_view through feedback.services.
"""

import functools
import html

from django.utils import timezone, translation
from django.utils.functional import cached_property
from django.utils.safestring import SafeString

from feedback.models import Feedback, due_cutoff

STATUS_LABELS = dict(Feedback.Status.choices)
RESOLUTION_LABELS = dict(Feedback.Resolution.choices)
SECTION_LABELS = dict(Feedback.Section.choices)
KIND_LABELS = dict(Feedback.Kind.choices)
_LABELS = {
    "status": STATUS_LABELS,
    "resolution": RESOLUTION_LABELS,
    "section": SECTION_LABELS,
    "kind": KIND_LABELS,
}
COMMENT_CHARS = 1200  # the list shows 3 lines; the rest is there to expand, up to this

# Row decisions: name -> (button label, key, changes for services.moderate).
DECISIONS = {
    "approve": ("Approve", "a", {"status": Feedback.Status.APPROVED}),
    "reject": ("Reject", "r", {"status": Feedback.Status.REJECTED}),
    "spam": ("Spam", "s", {"status": Feedback.Status.SPAM}),
    "addressed": ("Addressed", "", {"resolution": Feedback.Resolution.ADDRESSED}),
    "declined": ("Declined", "", {"resolution": Feedback.Resolution.DECLINED}),
}
CLAIMS = {"claim": "Claim", "release": "Release"}


def esc(value):
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


@functools.lru_cache(maxsize=16)
def _escaped_labels(language):
    """{field: {value: its label, translated into `language` and escaped}}."""
    with translation.override(language):
        return {
            field: {value: html.escape(str(label)) for value, label in labels.items()}
            for field, labels in _LABELS.items()
        }


def version_of(item):
    """The optimistic-check token of a row: when it last changed (see services.moderate)."""
    return item.updated_at.isoformat() if item.updated_at else ""


def age_text(delta):
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 3600:
        return f"{max(seconds // 60, 1)} min"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def is_open_work(item):
    return item.status == "pending" or (item.status == "approved" and item.resolution == "open")


class Page:
    """The columns of one page of the queue: what its rows share (the time, the due date's
    cutoff, the labels in the active language, the page links) worked out once; each
    method makes one column of a row."""

    def __init__(self, urls=None, now=None):
        self.now = now or timezone.now()
        self.urls = urls

    @cached_property
    def cutoff(self):
        return due_cutoff(self.now)

    @cached_property
    def timezone(self):
        return timezone.get_current_timezone()

    @cached_property
    def labels(self):
        return _escaped_labels(translation.get_language())

    def label(self, field, value):
        """The label of a status, resolution, section or kind, escaped (or the value)."""
        label = self.labels[field].get(value)
        return esc(value) if label is None else label

    def comment(self, item):
        text = item.comment
        if len(text) > COMMENT_CHARS:
            text = text[:COMMENT_CHARS] + "…"
        outdated = (
            ' <span class="fb-badge fb-outdated">page changed since</span>'
            if item.page_changed_at
            else ""
        )
        duplicate = (
            f' <span class="fb-badge fb-dup">duplicate of #{int(item.duplicate_of_id)}</span>'
            if item.duplicate_of_id
            else ""
        )
        return SafeString(  # every value is escaped
            f'<div class="fb-comment" id="fb-comment-{int(item.pk)}">{esc(text)}</div>'
            f"{outdated}{duplicate}"
        )

    def page(self, item):
        section = self.label("section", item.section)
        return SafeString(  # every value is escaped
            f'{esc(self.urls.link(item))}<div class="fb-sub">{section}</div>'
        )

    def kind(self, item):
        kind = self.label("kind", item.kind)
        category = item.proposed_category
        proposed = (
            f'<div class="fb-sub" title="{esc(category.name)}">→ {esc(category.code)}</div>'
            if category is not None
            else ""
        )
        return SafeString(f"{kind}{proposed}")  # every value is escaped

    def who(self, item):
        if item.user_id:
            who = esc(item.user.get_username())
            role = "reviewer" if item.by_reviewer else "signed in"
        else:
            who = esc(item.name) if item.name else "Anonymous"
            role = "reader"
        claimed = ""
        if item.claimed_by_id:
            ago = age_text(self.now - item.claimed_at) if item.claimed_at else ""
            claimed = (
                f'<div class="fb-claimed">claimed by {esc(item.claimed_by.get_username())}'
                f"{f' {ago} ago' if ago else ''}</div>"
            )
        return SafeString(  # every value is escaped
            f'{who} <span class="fb-sub">({role})</span>{claimed}'
        )

    def age(self, item):
        text = age_text(self.now - item.created_at)
        stamp = f"{item.created_at.astimezone(self.timezone):%Y-%m-%d %H:%M}"
        if is_open_work(item) and item.created_at < self.cutoff:
            return SafeString(  # every value is escaped
                f'<span class="fb-age fb-overdue" title="{stamp}">{text}'
                f'<span class="visually-hidden"> (overdue)</span></span>'
            )
        return SafeString(f'<span class="fb-age" title="{stamp}">{text}</span>')

    def state(self, item):
        status = esc(item.status)
        resolution = esc(item.resolution)
        return SafeString(  # every value is escaped
            f'<span class="fb-badge fb-status-{status}">'
            f"{self.label('status', item.status)}</span> "
            f'<span class="fb-badge fb-res-{resolution}">'
            f"{self.label('resolution', item.resolution)}</span>"
        )

    def decide(self, item):
        pk, version = int(item.pk), esc(version_of(item))
        buttons = [
            _button(pk, version, name, label, key)
            for name, (label, key, changes) in DECISIONS.items()
            if "status" in changes and item.status != changes["status"]
        ]
        if item.claimed_by_id is None:
            buttons.append(_button(pk, version, "claim", "Claim", "c"))
        else:
            buttons.append(_button(pk, version, "release", "Release"))
        if item.resolution == "open" and item.status != "spam":
            buttons.append(
                f'<details class="fb-resolve"><summary aria-label="Resolve #{pk} with a reply">'
                f"Resolve…</summary>"
                f'<label for="fb-reply-{pk}">Public reply (optional)</label>'
                f'<textarea form="fb-decide" id="fb-reply-{pk}" name="reply-{pk}" rows="3"'
                f' maxlength="5000"></textarea>'
                f"{_button(pk, version, 'addressed', 'Addressed')}"
                f"{_button(pk, version, 'declined', 'Declined')}</details>"
            )
        return SafeString(f'<div class="fb-decide">{"".join(buttons)}</div>')


def _button(pk, version, decision, label, key="", extra=""):
    data = f' data-key="{key}"' if key else ""
    return (
        f'<button type="submit" form="fb-decide" name="decide" class="fb-btn fb-{decision}"'
        f' value="{pk}:{decision}:{version}"{data} aria-label="{label} #{pk}"{extra}>'
        f"{label}</button>"
    )


# One row's columns (the admin's list_display methods and the change form call these).


def comment_html(item):
    return Page().comment(item)


def page_html(item, urls):
    return Page(urls).page(item)


def kind_html(item):
    return Page().kind(item)


def who_html(item, now=None):
    return Page(now=now).who(item)


def age_html(item, now=None):
    return Page(now=now).age(item)


def state_html(item):
    return Page().state(item)


def decide_html(item):
    return Page().decide(item)
