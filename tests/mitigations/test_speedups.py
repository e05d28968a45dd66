"""mitigations/speedups.py makes what Django's own path makes, for less.

FastSelect must render forms.Select's very HTML (same choices, value and attributes:
selection, escaping, optgroups), and ResultsPaginator must give Paginator's pages, counts
and links (only its `page_range` is shorter: the numbers the results template shows).
"""

import re

import pytest
from django import forms
from django.core.cache import cache
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from mitigations import views
from mitigations.filters import MitigationFilter
from mitigations.models import Mitigation
from mitigations.speedups import FastSelect, ResultsPaginator
from tests.conftest import as_verified
from tests.factories import CategoryFactory, MitigationFactory, SourceFactory

# --- FastSelect ------------------------------------------------------------------------

HTML_TEXT = st.sampled_from(["", "<b>bold</b>", "a & b", "\"quoted\" 'single'", "Crème brûlée"])
texts = st.one_of(HTML_TEXT, st.text(max_size=12))
values = st.one_of(texts, st.integers(-5, 5))
labels = st.one_of(values, texts.map(mark_safe))
options = st.lists(st.tuples(values, labels), max_size=6)
# A choice is an option (value, label) or an optgroup (group label, [options]).
choices = st.lists(st.one_of(st.tuples(values, labels), st.tuples(texts, options)), max_size=6)
attrs = st.dictionaries(
    st.sampled_from(["class", "id", "data-x", "aria-label", "required", "disabled"]),
    st.one_of(texts, st.booleans(), st.integers(0, 3)),
    max_size=4,
)


def _values(choice_list):
    for value, label in choice_list:
        if isinstance(label, (list, tuple)):
            yield from (v for v, _ in label)
        else:
            yield value


@hsettings(max_examples=300, deadline=None)
@given(
    choice_list=choices,
    data=st.data(),
    widget_attrs=attrs,
    render_attrs=st.one_of(st.none(), attrs),
    name=st.one_of(st.just("category"), texts.filter(bool)),
)
@example(
    choice_list=[("", "Any"), ("1.2", "1.2 Risks & <harms>"), ("3", "Three")],
    data=None,
    widget_attrs={"class": "form-select", "id": "filter-category"},
    render_attrs=None,
    name="category",
).via("the list page's selects: selected value, escaping")
@example(
    choice_list=[("Group <1>", [(1, "one"), (2, "two")]), ("", [(3, "three")]), (4, "four")],
    data=None,
    widget_attrs={"disabled": True, "required": False},
    render_attrs={"id": "x"},
    name="n",
).via("optgroups, an unnamed group, boolean attributes")
def test_fast_select_renders_what_select_renders(
    choice_list, data, widget_attrs, render_attrs, name
):
    possible = [*_values(choice_list), None, "", "not a choice"]
    if data is None:  # the explicit examples: the second value is chosen
        value = possible[1] if len(possible) > 3 else None
    else:
        value = data.draw(
            st.one_of(st.sampled_from(possible), st.lists(st.sampled_from(possible), max_size=3))
        )
    fast = FastSelect(attrs=dict(widget_attrs), choices=choice_list)
    stock = forms.Select(attrs=dict(widget_attrs), choices=choice_list)
    html = fast.render(name, value, attrs=render_attrs and dict(render_attrs))
    assert html == stock.render(name, value, attrs=render_attrs and dict(render_attrs))


def test_fast_select_marks_the_chosen_option_and_escapes():
    html = FastSelect(choices=[("a&b", "<i>A</i>"), ("c", "C")]).render("f", "a&b")
    assert '<option value="a&amp;b" selected>&lt;i&gt;A&lt;/i&gt;</option>' in html
    assert '<option value="c">C</option>' in html


def test_fast_select_with_templates_of_its_own_renders_them():
    class Custom(FastSelect):
        option_template_name = "django/forms/widgets/radio_option.html"

    custom = Custom(choices=[("a", "A")])
    assert custom.render("f", "a") == forms.Widget.render(custom, "f", "a")
    assert "<label><input" in custom.render("f", "a")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [{}, {"category": "1.2", "source": "key<2>", "status": "published", "sort": "-updated"}],
)
def test_the_list_filters_render_as_with_djangos_select(monkeypatch, editor, query):
    as_verified(editor)  # the filters a signed-in editor gets (second factor passed)
    CategoryFactory(code="1", name="Top & <tail>")
    CategoryFactory(code="1.2", name='Second "level"')
    SourceFactory(key="key<2>", title="A <title> & more", year=2024)
    SourceFactory(key="other", title="Other", year=1999)
    form = MitigationFilter(query or None, queryset=Mitigation.objects.all(), user=editor).form
    selects = [bf for bf in form if isinstance(bf.field.widget, FastSelect)]
    assert {bf.name for bf in selects} == {
        "category",
        "lifecycle",
        "actor",
        "rmf",
        "source",
        "status",
        "restricted",
        "sort",
    }
    fast = [bf.as_widget() for bf in selects]
    monkeypatch.setattr(FastSelect, "render", forms.Widget.render)
    assert fast == [bf.as_widget() for bf in selects]
    if query:
        assert '<option value="1.2" selected>1.2 Second &quot;level&quot;</option>' in fast[0]


@pytest.mark.django_db
def test_database_fed_selects_are_kept_per_data_version(monkeypatch, editor):
    """Their options are rendered once per data version: another value is marked in the kept
    HTML exactly as Select would mark it, and a catalogue write shows at once."""
    as_verified(editor)
    CategoryFactory(code="1", name="Top")
    CategoryFactory(code="1.2", name="Second")

    def rendered(query):
        form = MitigationFilter(query, queryset=Mitigation.objects.all(), user=editor).form
        return form["category"].as_widget(), form

    first, _ = rendered(None)
    chosen, form = rendered({"category": "1.2"})
    assert chosen != first
    with monkeypatch.context() as m:
        m.setattr(FastSelect, "render", forms.Widget.render)
        assert chosen == form["category"].as_widget()
    CategoryFactory(code="1.3", name="Added later")
    assert "Added later" in rendered(None)[0]


# --- ResultsPaginator ----------------------------------------------------------------------


@pytest.fixture
def numbered(db):
    """47 mitigations in a known order; `queryset(n)` is the first n of them."""
    category = CategoryFactory(code="7")
    ids = [MitigationFactory(category=category).pk for _ in range(47)]

    def queryset(n):
        return Mitigation.objects.filter(pk__in=ids[:n]).order_by("pk")

    return queryset


def _page_facts(paginator, number):
    page = paginator.get_page(number)
    return {
        "count": paginator.count,
        "num_pages": paginator.num_pages,
        "number": page.number,
        "objects": [m.pk for m in page.object_list],
        "has_next": page.has_next(),
        "has_previous": page.has_previous(),
        "has_other_pages": page.has_other_pages(),
        "start_index": page.start_index(),
        "end_index": page.end_index(),
        "next": page.next_page_number() if page.has_next() else None,
        "previous": page.previous_page_number() if page.has_previous() else None,
    }


def _error(paginator, number):
    try:
        paginator.page(number)
    except (EmptyPage, PageNotAnInteger) as error:
        return type(error)
    return None


def _links(paginator, number):
    """The pagination the results template renders."""
    page = paginator.get_page(number)
    paginator.current = page.number  # as the view does (ignored by Django's Paginator)
    return render_to_string(
        "includes/results.html",
        {"page_obj": page, "mitigations": [], "query_string": "q=a%26b"},
    )


@hsettings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(0, 47),
    per_page=st.integers(1, 12),
    orphans=st.integers(0, 2),
    number=st.one_of(st.none(), st.integers(-2, 50), st.sampled_from(["", "2", "x", "1.5"])),
)
@example(n=0, per_page=5, orphans=0, number=1)  # empty
@example(n=0, per_page=5, orphans=0, number=3)  # empty, out of range
@example(n=20, per_page=5, orphans=0, number=4)  # an exact multiple: the last page is full
@example(n=23, per_page=5, orphans=0, number=5)  # the last page partial
@example(n=23, per_page=5, orphans=0, number=99)  # out of range: the last page
@example(n=47, per_page=1, orphans=0, number=24)  # many pages, in the middle
def test_results_paginator_pages_as_djangos(numbered, n, per_page, orphans, number):
    orphans = min(orphans, per_page - 1)
    ours = ResultsPaginator(numbered(n), per_page, orphans=orphans)
    django = Paginator(numbered(n), per_page, orphans=orphans)
    assert _page_facts(ours, number) == _page_facts(django, number)
    assert _error(ours, number) == _error(django, number)
    assert _links(ours, number) == _links(django, number)
    # page_range: exactly the numbers the template shows of Django's.
    current = ours.current
    shown = [
        p
        for p in django.page_range
        if p in (1, current, django.num_pages) or current - 3 < p < current + 3
    ]
    assert ours.page_range == shown


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["", "1", "3", "8", "15", "99", "x"])
def test_the_list_page_links_the_pages_djangos_paginator_would(monkeypatch, reader_client, page):
    category = CategoryFactory(code="7")
    for _ in range(29):
        MitigationFactory(category=category)
    monkeypatch.setattr(views, "PAGE_SIZE", 2)  # 15 pages

    def pagination():
        cache.clear()  # a rendering, not the page cache's copy
        response = reader_client.get("/mitigations/", {"page": page, "q": ""})
        assert response.status_code == 200
        return re.search(r'<nav aria-label="Result pages">.*?</nav>', response.text, re.S)[0]

    ours = pagination()
    monkeypatch.setattr(views, "ResultsPaginator", Paginator)
    assert ours == pagination()
    assert 'page=15">15</a>' in ours or 'aria-current="page"><span class="page-link">15' in ours


def test_results_paginator_counts_in_the_page_query(numbered, django_assert_num_queries):
    with django_assert_num_queries(1):
        page = ResultsPaginator(numbered(23), 5).get_page("3")
        assert (page.paginator.count, page.number, len(page.object_list)) == (23, 3, 5)
    with django_assert_num_queries(2):  # past the end: counted, then the last page
        assert ResultsPaginator(numbered(23), 5).get_page("9").number == 5
    expected = [m.pk for m in numbered(23)[5:10]]
    with django_assert_num_queries(1):  # a known count is taken as is
        paginator = ResultsPaginator(numbered(23), 5, count=23)
        assert [m.pk for m in paginator.get_page("2").object_list] == expected
    with django_assert_num_queries(2):  # count_in_page=False: Paginator's COUNT
        page = ResultsPaginator(numbered(23), 5, count_in_page=False).get_page(2)
        assert (page.number, len(page.object_list)) == (2, 5)
