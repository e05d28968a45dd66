"""portal/lib/compiled.py: a statement compiled once gives what the ORM gives."""

import pytest

from mitigations.models import Figure, Mitigation
from portal.lib.compiled import Compiled
from tests.factories import FigureFactory, MitigationFactory, future

pytestmark = pytest.mark.django_db

by_slug = Compiled(
    lambda slug, drafts: (Mitigation.objects.all() if drafts else Mitigation.objects.exclude(
        status="draft")).defer("search_vector", "created_at").filter(slug=slug)
)  # fmt: skip
figures_of = Compiled(lambda pk, _: Figure.objects.filter(mitigation_id=pk).order_by("key"))


def test_the_rows_are_the_orms_with_new_values_each_call():
    page = MitigationFactory(status="published")
    draft = MitigationFactory(status="draft")
    FigureFactory(mitigation=page, key="b", embargo_until=future(), preliminary=True)
    FigureFactory(mitigation=page, key="a")
    [found] = by_slug(page.slug, False)
    expected = Mitigation.objects.defer("search_vector", "created_at").get(pk=page.pk)
    for field in Mitigation._meta.concrete_fields:
        if field.attname not in ("search_vector", "created_at"):
            assert getattr(found, field.attname) == getattr(expected, field.attname)
    assert found.get_deferred_fields() == {"search_vector", "created_at"}
    assert by_slug(draft.slug, False) == [] and by_slug(draft.slug, True)[0].pk == draft.pk
    assert by_slug("no-such-page", True) == []
    rows = figures_of(page.pk)
    orm = list(Figure.objects.filter(mitigation=page).order_by("key"))
    assert [(f.pk, f.key, f.embargo_until, f.value, f.preliminary) for f in rows] == [
        (f.pk, f.key, f.embargo_until, f.value, f.preliminary) for f in orm
    ]
    assert all(not f._state.adding for f in rows)


def test_only_a_models_own_columns_and_one_value():
    joined = Compiled(lambda pk, _: Figure.objects.select_related("mitigation").filter(pk=pk))
    with pytest.raises(ValueError, match="own columns"):
        joined(1)
    twice = Compiled(lambda pk, _: Figure.objects.filter(pk=pk, mitigation_id=pk))
    with pytest.raises(ValueError, match="exactly once"):
        twice(1)
