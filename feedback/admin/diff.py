"""The page as it changed since a feedback item was written: a word diff per field.

Editors see it on the change form ("The page since this feedback"): the page version the
feedback was written against (its history id) compared with the page today.
"""

import difflib
import re

from django.db.models import Exists, OuterRef, Q
from django.utils.html import escape
from django.utils.safestring import mark_safe

from mitigations.models import Mitigation, TaxonomyCategory

DIFF_FIELDS = [
    ("name", "Title"),
    ("definition", "Definition"),
    ("additional_information", "Additional information"),
    ("reasoning", "Reasoning"),
    ("classified_by", "Classified by"),
    ("category_id", "Category"),
    ("status", "Status"),
]
# The page fields each section of the feedback form is about ("possibly outdated": one of
# them changed since the version the feedback was written against).
SECTION_FIELDS = {
    "definition": ["name", "definition"],
    "additional_information": ["additional_information"],
    "reasoning": ["reasoning", "classified_by", "category_id"],
}
_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")


def word_diff(old: str, new: str) -> str:
    """HTML of `new` with deletions and insertions marked; all text escaped."""
    a, b = _TOKENS.findall(old or ""), _TOKENS.findall(new or "")
    parts = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            parts.append(escape("".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            parts.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            parts.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
    return mark_safe("".join(parts))  # noqa: S308 - every piece above is escaped


def page_changes(item):
    """[(label, diff html)] for the page fields that changed since the feedback's version.

    None when there is nothing to compare with (no page, or the version is unknown).
    """
    if not item.mitigation_id or not item.page_version:
        return None
    old = Mitigation.history.filter(history_id=item.page_version).first()
    if old is None or old.id != item.mitigation_id:
        return None
    current = item.mitigation
    codes = dict(
        TaxonomyCategory.objects.filter(pk__in=[old.category_id, current.category_id]).values_list(
            "pk", "code"
        )
    )
    changes = []
    for field, label in DIFF_FIELDS:
        before, after = getattr(old, field), getattr(current, field)
        if field == "category_id":
            before, after = codes.get(before, before), codes.get(after, after)
        if before != after:
            changes.append((label, word_diff(str(before or ""), str(after or ""))))
    return changes


def _versions():
    return Mitigation.history.model.objects


def outdated_q():
    """Feedback whose section of the page changed since the version it was written against."""
    condition = Q(pk__in=[])
    for section, fields in SECTION_FIELDS.items():
        differs = Q(pk__in=[])
        for field in fields:
            differs |= ~Q(**{field: OuterRef(f"mitigation__{field}")})
        version = _versions().filter(Q(history_id=OuterRef("page_version")) & differs)
        condition |= Q(section=section) & Exists(version)
    return condition


def mark_outdated(items):
    """Set `outdated` on each item (one query for all): its section changed since."""
    wanted = {
        item.page_version
        for item in items
        if item.page_version and item.mitigation_id and item.section in SECTION_FIELDS
    }
    old, now = {}, {}
    if wanted:
        # The list defers the page's long texts: both sides are read here, in two queries.
        columns = sorted({f for fields in SECTION_FIELDS.values() for f in fields})
        old = {
            row["history_id"]: row
            for row in _versions()
            .filter(history_id__in=wanted)
            .values("history_id", "id", *columns)
        }
        pages = {row["id"] for row in old.values()}
        now = {
            row["id"]: row for row in Mitigation.objects.filter(pk__in=pages).values("id", *columns)
        }
    for item in items:
        version = old.get(item.page_version) if item.section in SECTION_FIELDS else None
        current = now.get(item.mitigation_id)
        item.outdated = bool(
            version
            and current
            and version["id"] == item.mitigation_id
            and any(version[f] != current[f] for f in SECTION_FIELDS[item.section])
        )
    return items


def section_versions(item):
    """(label, text then, text now, diff html) for each field of the item's section that
    changed since its version; [] when none did; None when there is nothing to compare."""
    fields = SECTION_FIELDS.get(item.section)
    if not fields or not item.mitigation_id or not item.page_version:
        return None
    old = Mitigation.history.filter(history_id=item.page_version).first()
    if old is None or old.id != item.mitigation_id:
        return None
    labels = dict(DIFF_FIELDS)
    current = item.mitigation
    codes = dict(
        TaxonomyCategory.objects.filter(pk__in=[old.category_id, current.category_id]).values_list(
            "pk", "code"
        )
    )
    rows = []
    for field in fields:
        before, after = getattr(old, field), getattr(current, field)
        if field == "category_id":
            before, after = codes.get(before, before), codes.get(after, after)
        before, after = str(before or ""), str(after or "")
        if before != after:
            rows.append((labels[field], before, after, word_diff(before, after)))
    return rows
