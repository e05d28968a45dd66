"""Keeping a page's dates and versions current when its figures or links change.

`Mitigation.save` handles edits of the page's own fields. Figures and links change without
saving the page: these receivers move its `updated_at` for every change, and its public date
and version (`public_updated_at`, `public_version`) only for changes readers can see, as
`access.figure_change_is_visible` decides. The importer writes in bulk (no signals) and
calls `Mitigation.touch` itself.
"""

from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from mitigations.models import Figure, Mitigation
from portal.lib import access

_BEFORE = "_page_dates_before"
COMPARED = [f.attname for f in Figure._meta.concrete_fields if not f.primary_key]


def _figure_before(sender, instance, raw=False, **kwargs):
    if raw or instance._state.adding or instance.pk is None:
        setattr(instance, _BEFORE, None)
        return
    row = Figure._base_manager.filter(pk=instance.pk).values(*COMPARED).first()
    setattr(instance, _BEFORE, Figure(**row) if row is not None else None)


def _figure_saved(sender, instance, created=False, raw=False, **kwargs):
    if raw:
        return
    before = getattr(instance, _BEFORE, None)
    if before is not None and all(
        getattr(before, name) == getattr(instance, name) for name in COMPARED
    ):
        return  # saved without a change
    _touch(before, instance)


def _figure_deleted(sender, instance, **kwargs):
    _touch(instance, None)


def _touch(before, after):
    pages = {f.mitigation_id for f in (before, after) if f is not None}
    visible = access.figure_change_is_visible(before, after)
    Mitigation.touch(pages, public_pks=pages if visible else ())


def _links_changed(sender, instance, action, reverse, pk_set, **kwargs):
    """A source, facet or related page added to or removed from pages: readers see it."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if not reverse:
        pages = {instance.pk}  # the page's own links (`related` is not symmetrical)
    elif pk_set:
        pages = set(pk_set)  # pages linked from the other side (a source's pages, …)
    else:
        return  # a clear from the other side: its pages are not known here
    Mitigation.touch(pages, public_pks=pages)


def connect():
    pre_save.connect(_figure_before, sender=Figure, dispatch_uid="page-dates-figure-pre")
    post_save.connect(_figure_saved, sender=Figure, dispatch_uid="page-dates-figure-save")
    post_delete.connect(_figure_deleted, sender=Figure, dispatch_uid="page-dates-figure-del")
    for field in Mitigation._meta.many_to_many:
        m2m_changed.connect(
            _links_changed,
            sender=field.remote_field.through,
            dispatch_uid=f"page-dates-links-{field.name}",
        )
