"""Possibly outdated feedback: the part of the page it is about changed since it was written.

Feedback remembers the page version (a Mitigation history id) it was written against. When
a page changes, its feedback whose section's fields differ from that version gets
`page_changed_at`; when the change is undone the mark goes again. Kept on the row so that
the queue filters on it through an index instead of comparing page versions of a million
rows. Refreshed for a page on every new history record of it (admin saves send
simple_history's signal) and for the pages an import updated (mitigations.signals).
"""

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from simple_history.signals import post_create_historical_record

from feedback.models import Feedback
from mitigations.models import Mitigation
from mitigations.signals import pages_changed

# The page fields each section of the feedback form is about.
SECTION_FIELDS = {
    "definition": ["name", "definition"],
    "additional_information": ["additional_information"],
    "reasoning": ["reasoning", "classified_by", "category_id"],
}


def outdated_q():
    """Feedback whose section's fields differ now from the version it was written against."""
    versions = Mitigation.history.model.objects
    condition = Q(pk__in=[])
    for section, fields in SECTION_FIELDS.items():
        differs = Q(pk__in=[])
        for field in fields:
            differs |= ~Q(**{field: OuterRef(f"mitigation__{field}")})
        version = versions.filter(Q(history_id=OuterRef("page_version")) & differs)
        condition |= Q(section=section) & Exists(version)
    return condition


def refresh_pages(mitigation_ids, now=None):
    """Mark (or unmark) the feedback on these pages; the number of rows changed."""
    ids = list(mitigation_ids)
    if not ids:
        return 0
    on_pages = Feedback.objects.filter(
        mitigation_id__in=ids, page_version__isnull=False, section__in=list(SECTION_FIELDS)
    )
    stale = on_pages.filter(outdated_q())
    marked = Feedback.objects.filter(
        pk__in=stale.filter(page_changed_at__isnull=True).values("pk")
    ).update(page_changed_at=now or timezone.now())
    cleared = (
        on_pages.filter(page_changed_at__isnull=False)
        .exclude(pk__in=stale.values("pk"))
        .update(page_changed_at=None)
    )
    return marked + cleared


def _page_changed(sender, instance, history_instance, **kwargs):
    if history_instance.history_type != "+":
        refresh_pages([instance.pk])


def _pages_imported(sender, pks, **kwargs):
    refresh_pages(pks)


def connect():
    post_create_historical_record.connect(
        _page_changed,
        sender=Mitigation.history.model,
        dispatch_uid="feedback-outdated",
    )
    pages_changed.connect(_pages_imported, sender=Mitigation, dispatch_uid="feedback-imported")
