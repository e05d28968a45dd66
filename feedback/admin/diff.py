"""The page as it changed since a feedback item was written: a word diff per field.

Editors see it on the change form ("The page since this feedback"): the page version the
feedback was written against (its history id) compared with the page today.
"""

import difflib
import re

from django.utils.html import escape
from django.utils.safestring import mark_safe

from feedback.outdated import SECTION_FIELDS
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
