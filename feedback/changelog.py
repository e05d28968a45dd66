"""The review made visible: a page's public history, versions and citations (selectors).

Built from the page's simple_history records. Only *public* records count: a record whose
status was draft is left out for everyone, so draft edits never show, and a page's version
numbers (1, 2, 3 … per page, nothing global) are the positions of its public records:
stable, because records are only ever appended. Only page text and classification are
described (the Mitigation's own fields): figure changes are not described, and neither is
any feedback's text. An old version shows its figures as they were then, but only those
that were public then *and* are public now (`version_figures`), for every viewer.
That a change answered reader feedback is said by section and kind only, and only for
feedback from readers (a reviewer's feedback belongs to the reviewers' discussion).
"""

import copy
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import F, Window
from django.db.models.functions import Lag, RowNumber
from django.urls import reverse

from feedback.models import Feedback
from mitigations.models import Figure, Mitigation, TaxonomyCategory
from portal.lib import access
from portal.lib.page_cache import current_data_version, per_data_version

# field -> how a change to it is described
DESCRIBED = {
    "name": "Title changed",
    "definition": "Definition reworded",
    "additional_information": "Additional information revised",
    "reasoning": "Reasoning revised",
    "category_id": "Moved to another category",
    "classified_by": "Classification reviewed",
    "lifecycle_primary_id": "Lifecycle stage changed",
    "actor_primary_id": "Actor changed",
    "rmf_primary_id": "AI RMF function changed",
}
# feedback section -> the fields a change answering it touches
SECTION_FIELDS = {
    "definition": {"name", "definition"},
    "additional_information": {"additional_information"},
    "reasoning": {
        "reasoning",
        "category_id",
        "classified_by",
        "lifecycle_primary_id",
        "actor_primary_id",
        "rmf_primary_id",
    },
    "other": set(DESCRIBED),
}
KIND_WORDS = {
    "error": "a correction",
    "classification": "a classification disagreement",
    "source": "a source remark",
    "suggestion": "a suggestion",
    "other": "feedback",
}
PUBLIC = ("polishing", "published")


@dataclass
class Change:
    """One public version of a page and what changed in it."""

    number: int
    date: object
    record: object
    mitigation_id: int
    slug: str = ""
    page_name: str = ""
    what: list = field(default_factory=list)
    answered: list = field(default_factory=list)  # e.g. ["a correction on the definition"]

    @property
    def summary(self) -> str:
        text = "; ".join(self.what) if self.what else "No change to the page text"
        if self.answered:
            text += " after reader feedback (" + ", ".join(self.answered) + ")"
        return text

    def get_absolute_url(self):
        return version_url(self.slug, self.number)


def version_url(slug, number):
    return reverse("changelog:version", args=[slug, number])


def _history():
    return Mitigation.history.model.objects


def _with_previous(records):
    """Annotate each public record with its page-wise number and the previous public values."""
    partition = {"partition_by": [F("id")], "order_by": [F("history_date"), F("history_id")]}
    annotations = {"number": Window(RowNumber(), **partition)}
    for name in [*DESCRIBED, "status"]:
        annotations[f"prev_{name}"] = Window(Lag(name), **partition)
    return records.filter(status__in=PUBLIC).annotate(**annotations)


def _describe(row, categories) -> list[str]:
    if row["number"] == 1:
        return ["First version"]
    what = []
    for name, label in DESCRIBED.items():
        if row[name] != row[f"prev_{name}"]:
            if name == "category_id" and row[name] in categories:
                label = f"Moved to {categories[row[name]]}"
            what.append(label)
    if row["status"] != row["prev_status"] and row["status"] == "published":
        what.append("Reviewed and published")
    elif row["status"] != row["prev_status"]:
        what.append("Marked as still being polished")
    return what


VALUES = ["history_id", "history_date", "id", "slug", "name", "status", *DESCRIBED]


def _rows(records):
    rows = _with_previous(records).values(
        *VALUES, "number", *(f"prev_{n}" for n in [*DESCRIBED, "status"])
    )
    return list(rows.order_by("id", "history_date", "history_id"))


def _categories(rows):
    ids = {r["category_id"] for r in rows}
    return {c.pk: str(c) for c in TaxonomyCategory.objects.filter(pk__in=ids)}


def _answered(changes, feedback_rows):
    """Mark each change with the reader feedback it answered: an addressed item is answered
    by the first change after the version it was written against that touched its section."""
    for item in feedback_rows:
        fields = SECTION_FIELDS.get(item["section"])
        if not fields:
            continue  # figures, related, sources: not described in the history
        for change in changes:
            if change.mitigation_id != item["mitigation_id"] or change.number == 1:
                continue
            if item["page_version"] is not None and change.record <= item["page_version"]:
                continue
            touched = {n for n, label in DESCRIBED.items() if change.changed.get(n)}
            if touched & fields:
                words = f"{KIND_WORDS.get(item['kind'], 'feedback')} on the {item['section_label']}"
                if words not in change.answered:
                    change.answered.append(words)
                break


def _reader_feedback(mitigation_ids):
    """Addressed feedback from readers (never reviewers'), as section and kind only."""
    rows = (
        Feedback.objects.filter(
            mitigation_id__in=mitigation_ids,
            resolution=Feedback.Resolution.ADDRESSED,
            by_reviewer=False,
        )
        .exclude(status=Feedback.Status.SPAM)
        .exclude(section=Feedback.Section.FIGURES)
        .values("mitigation_id", "page_version", "section", "kind")
        .order_by("created_at", "pk")
    )
    labels = dict(Feedback.Section.choices)
    return [{**r, "section_label": labels.get(r["section"], r["section"]).lower()} for r in rows]


def _changes(rows):
    categories = _categories(rows)
    changes = []
    for row in rows:
        change = Change(
            number=row["number"],
            date=row["history_date"],
            record=row["history_id"],
            mitigation_id=row["id"],
            slug=row["slug"],
            page_name=row["name"],
            what=_describe(row, categories),
        )
        change.changed = {n: row["number"] > 1 and row[n] != row[f"prev_{n}"] for n in DESCRIBED}
        changes.append(change)
    return changes


HISTORY_CACHE_SECONDS = 24 * 60 * 60


@per_data_version
def _page_history(mitigation_id):
    """A page's Changes without the feedback they answered: from its history records and
    category names, which change only with the catalogue. Kept per data version in this
    process and in the shared cache (the window query cost more than the rest of a page,
    and a worker meets most pages for the first time: 200 pages x 5 workers)."""
    version = current_data_version()
    key = f"changelog:history:{version}:{mitigation_id}"
    changes = cache.get(key) if version != "-" else None
    if changes is None:
        changes = _changes(_rows(_history().filter(id=mitigation_id)))
        if version != "-":
            cache.set(key, changes, HISTORY_CACHE_SECONDS)
    return changes


def _fresh(change):
    """A copy to mark with the feedback it answered (the kept one stays unmarked)."""
    copied = copy.copy(change)
    copied.what, copied.answered = list(change.what), []
    return copied


def _may_answer(change) -> bool:
    """Whether `change` could have answered feedback: a later version that changed a
    described field (see _answered)."""
    return change.number > 1 and any(change.changed.values())


def page_changes(mitigation) -> list[Change]:
    """The page's public versions, oldest first, each with what changed. The reader feedback
    they answered is asked for only when a version could have answered some (most pages
    have one version: no query)."""
    history = _page_history(mitigation.pk)
    if not any(_may_answer(c) for c in history):
        return list(history)  # nothing to mark: the kept Changes as they are
    changes = [_fresh(c) for c in history]
    _answered(changes, _reader_feedback([mitigation.pk]))
    return changes


def page_version(mitigation, number):
    """(the historical record, its Change) of public version `number`, or None."""
    for change in page_changes(mitigation):
        if change.number == number:
            return _history().get(history_id=change.record), change
    return None


def current_version(mitigation):
    """The newest public version's Change (None for a page that was never public)."""
    changes = page_changes(mitigation)
    return changes[-1] if changes else None


RECENT_LIMIT = 50


def recent_changes(visible, limit=RECENT_LIMIT) -> list[Change]:
    """The newest public changes across the pages in `visible` (the viewer's visible pages),
    newest first. Versions that changed nothing described are left out."""
    pages = visible.values("pk")
    recent_ids = (
        _history()
        .filter(id__in=pages, status__in=PUBLIC)
        .order_by("-history_date", "-history_id")
        .values_list("id", flat=True)[: limit * 4]
    )
    page_ids = set(recent_ids)
    changes = _changes(_rows(_history().filter(id__in=page_ids)))
    _answered(changes, _reader_feedback(page_ids))
    changes = [c for c in changes if c.what]
    changes.sort(key=lambda c: (c.date, c.record), reverse=True)
    changes = changes[:limit]
    # The page's current name and slug (a renamed page links to where it is now).
    current = dict(Mitigation.objects.filter(pk__in=page_ids).values_list("pk", "slug"))
    for change in changes:
        change.slug = current.get(change.mitigation_id, change.slug)
    return changes


def version_figures(mitigation, change):
    """The page's figures as they were at version `change`: only those public then and now."""
    public_now = set(
        Figure.objects.filter(mitigation=mitigation)
        .exclude(access.restricted_q())
        .values_list("pk", flat=True)
    )
    records = (
        Figure.history.model.objects.filter(
            mitigation_id=mitigation.pk, history_date__lte=change.date, id__in=public_now
        )
        .order_by("id", "-history_date", "-history_id")
        .only(*FIGURE_FIELDS)
    )
    then = {}
    for record in records:
        then.setdefault(record.id, record)  # the newest record of each figure at that time
    shown = [
        r
        for r in then.values()
        if r.history_type != "-" and not access.figure_is_restricted(r, now=change.date)
    ]
    return sorted(shown, key=lambda r: (r.position, r.key))


FIGURE_FIELDS = [
    "history_id",
    "history_date",
    "history_type",
    "id",
    "key",
    "label",
    "value",
    "unit",
    "risk_area",
    "sample_size",
    "preliminary",
    "embargo_until",
    "position",
]
