"""What a catalogue change invalidates: the one registry.

Every model of the catalogue (taxonomy, facets, sources, mitigations, figures) is a
`CatalogueModel` with a `CatalogueQuerySet` manager, and every write through them changes the
catalogue's data version (portal/lib/page_cache.py), which invalidates

* the pages cached for anonymous readers, and
* the figures memoised per data version (counts, the taxonomy tree, filter options, the small
  tables of the detail page, the feedback form's taxonomy codes).

Writes covered: `save()` and `delete()` of an instance, and the bulk paths of a queryset
(`update`, `delete`, `bulk_create`, `bulk_update`: admin actions, the importer,
simple_history's bulk helpers), so none of them can forget it. Links between mitigations and
facets, sources or other mitigations (many-to-many `add`/`remove`/`set`/`clear`) are
registered in `connect()` below. Raw SQL must call `bump_data_version()` itself (the
importer's COPY path does, on commit). The version is bumped at once and again on commit.
"""

from django.db import models
from django.db.models.signals import m2m_changed

from portal.lib.page_cache import bump_data_version


class CatalogueQuerySet(models.QuerySet):
    """A queryset whose bulk writes invalidate the catalogue's cached pages and figures."""

    def update(self, **kwargs):
        rows = super().update(**kwargs)
        bump_data_version()
        return rows

    update.alters_data = True

    def delete(self):
        result = super().delete()
        bump_data_version()
        return result

    delete.alters_data = True

    def bulk_create(self, objs, *args, **kwargs):
        created = super().bulk_create(objs, *args, **kwargs)
        bump_data_version()
        return created

    def bulk_update(self, objs, *args, **kwargs):
        rows = super().bulk_update(objs, *args, **kwargs)
        bump_data_version()
        return rows


class CatalogueModel(models.Model):
    """A catalogue model: saving or deleting an instance invalidates (see the module)."""

    objects = CatalogueQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        bump_data_version()

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        bump_data_version()
        return result


def _links_changed(sender, action, **kwargs):
    if action in ("post_add", "post_remove", "post_clear"):
        bump_data_version()


def connect(*models_with_links):
    """The many-to-many links of the catalogue (their through tables have no model of ours)."""
    for model in models_with_links:
        for field in model._meta.many_to_many:
            m2m_changed.connect(
                _links_changed,
                sender=field.remote_field.through,
                dispatch_uid=f"catalogue-links-{model._meta.label}-{field.name}",
            )
