"""portal/lib/compiled.py: a statement compiled once gives what the ORM gives."""

import pytest
from django.db.models import Count

from mitigations.models import Figure, Mitigation
from portal.lib.compiled import Compiled
from tests.factories import FeedbackFactory, FigureFactory, MitigationFactory, future

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


def test_select_related_objects_come_with_the_row():
    page = MitigationFactory()
    figure = FigureFactory(mitigation=page, key="a")
    joined = Compiled(
        lambda pk, _: Figure.objects.select_related("mitigation").only("key", "mitigation__name")
        .filter(pk=pk)
    )  # fmt: skip
    [found] = joined(figure.pk)
    assert found.key == "a" and Figure.mitigation.is_cached(found)
    assert found.mitigation.pk == page.pk and found.mitigation.name == page.name
    category = Compiled(
        lambda pk, _: FeedbackFactory._meta.model.objects.select_related("proposed_category")
        .filter(pk=pk)
    )  # fmt: skip
    item = FeedbackFactory(mitigation=page)
    [found] = category(item.pk)
    assert found.proposed_category is None  # a null foreign key: cached as None, no query


def test_annotations_come_with_the_row():
    figure = FigureFactory(key="a")
    FigureFactory(mitigation=figure.mitigation, key="b")
    counted = Compiled(
        lambda pk, _: Mitigation.objects.annotate(n=Count("figures")).filter(pk=pk).only("code")
    )
    [found] = counted(figure.mitigation_id)
    assert found.n == 2 and found.code == figure.mitigation.code


def test_only_a_models_own_columns_and_one_value():
    values = Compiled(lambda pk, _: Figure.objects.filter(pk=pk).values("key"))
    with pytest.raises((ValueError, TypeError)):  # model instances only
        values(1)
    reverse = Compiled(lambda pk, _: Mitigation.objects.select_related("helpfulness").filter(pk=pk))
    with pytest.raises(ValueError, match="forward relations"):
        reverse(1)
    twice = Compiled(lambda pk, _: Figure.objects.filter(pk=pk, mitigation_id=pk))
    with pytest.raises(ValueError, match="exactly once"):
        twice(1)
