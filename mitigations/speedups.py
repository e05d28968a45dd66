"""The list pages' speed shortcuts: Django's own output, made for less.

Justified by the benchmark scenario `search_reader_cold` of bench/drive.py ("search, 2
words, page-cache misses": the list page rendered in full, 680 different searches as a
reader; bench/README.md "Renderings") and by every first rendering of `list`,
`list_filtered`, `list_page50`, `search_common` and `search_rare` before the page cache
holds it (`.venv/bin/python bench/profile_page.py /mitigations/` shows where the time goes).
With 10,000 mitigations and ~550 options in the filter selects:

* `FastSelect` renders forms.Select's HTML without a template per option (select_option.html
  and attrs.html cost more than the rest of the page), and the options of the database-fed
  selects once per data version;
* `CatalogueChoiceFilter` looks a chosen filter value up in its table read once per data
  version (instead of a query per filter);
* `ResultsPaginator` gives the results template only the page numbers it links to instead
  of walking all 500.

tests/mitigations/test_speedups.py proves each matches Django's own path: FastSelect's HTML
is forms.Select's for the same choices and value; the paginator's pages, counts and links
are Paginator's.
"""

import django_filters
from django import forms
from django.core.paginator import Paginator
from django.db.models import Count, Window
from django.forms.models import ModelChoiceIterator
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe

from portal.lib.page_cache import current_data_version


def _attrs(attrs) -> str:
    """django/forms/widgets/attrs.html in Python (`stringformat:'s'` keeps safe strings)."""
    return "".join(
        f" {conditional_escape(name)}"
        if value is True
        else f' {conditional_escape(name)}="{conditional_escape(str(value))}"'
        for name, value in attrs.items()
        if value is not False
    )


_SELECTS: dict = {}
_NOTHING = "\x00no option has this value\x00"


class FastSelect(forms.Select):
    """forms.Select producing the same HTML without a template render per option, and the
    options of a select fed by the database (taxonomy, sources, facets) rendered once per data
    version and process: the chosen option is marked in the stored HTML.

    A subclass or instance with its own templates renders through them, as Select does.
    """

    def render(self, name, value, attrs=None, renderer=None):
        if (self.template_name, self.option_template_name) != (
            forms.Select.template_name,
            forms.Select.option_template_name,
        ) or self.allow_multiple_selected:
            return super().render(name, value, attrs, renderer)
        key = self._memo_key(name, attrs)
        if key is None:
            return mark_safe(self._render_select(name, value, attrs))  # noqa: S308 - escaped
        html = _SELECTS.get(key)
        if html is None:
            html = self._render_select(name, _NOTHING, attrs)  # no option chosen
            if len(_SELECTS) >= 256:
                _SELECTS.clear()
            _SELECTS[key] = html
        # As Select: the first option whose value is among the chosen ones is selected.
        found = [
            (html.find(option), option)
            for option in {
                f'<option value="{conditional_escape(v)}">' for v in self.format_value(value)
            }
        ]
        found = [(at, option) for at, option in found if at >= 0]
        if found:
            at, option = min(found)
            html = f"{html[:at]}{option[:-1]} selected>{html[at + len(option) :]}"
        return mark_safe(html)  # noqa: S308 - built by _render from escaped pieces

    def _memo_key(self, name, attrs):
        """What a database-fed select's HTML depends on (its attributes as text: 0, False and
        "0" render differently); None for fixed choices (few, rendered each time)."""
        if not isinstance(self.choices, ModelChoiceIterator):
            return None
        final_attrs = self.build_attrs(self.attrs, attrs)
        label = self.choices.queryset.model._meta.label
        return (name, repr(list(final_attrs.items())), current_data_version(), label)

    def _render_select(self, name, value, attrs):
        """The select's HTML with `value` chosen, as Django's templates would render it."""
        widget = self.get_context(name, value, attrs)["widget"]
        out = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
        for group_name, options, _index in widget["optgroups"]:
            if group_name:
                out.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
            for option in options:
                out.append(
                    f'\n  <option value="{conditional_escape(str(option["value"]))}"'
                    f"{_attrs(option['attrs'])}>"
                    f"{conditional_escape(option['label'])}</option>\n"
                )
            if group_name:
                out.append("\n  </optgroup>")
        out.append("\n</select>")
        return "".join(out)  # every piece above is escaped


_LOOKUPS: dict = {}


class CatalogueChoiceField(django_filters.fields.ModelChoiceField):
    """A choice of a small catalogue table (taxonomy, facets, sources), looked up in a table
    of its rows read once per data version and process instead of one query per filter."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        key = (current_data_version(), self.queryset.model._meta.label, self.to_field_name)
        rows = _LOOKUPS.get(key)
        if rows is None:
            rows = {str(getattr(obj, self.to_field_name)): obj for obj in self.queryset}
            if len(_LOOKUPS) >= 64:
                _LOOKUPS.clear()
            _LOOKUPS[key] = rows
        try:
            return rows[str(value)]
        except KeyError:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"],
                code="invalid_choice",
                params={"value": value},
            ) from None


class CatalogueChoiceFilter(django_filters.ModelChoiceFilter):
    field_class = CatalogueChoiceField


class ResultsPaginator(Paginator):
    """A paginator whose `page_range` holds only the page numbers the results template links
    to: the first, the last and two either side of the current page (`current`).

    The template walks `page_range` and shows exactly those; with 10,000 mitigations that
    walk over 400 numbers cost more than rendering the results themselves.

    `get_page` asks the database once: the page's rows carry the number of all results
    (`COUNT(*) OVER ()`, counted before LIMIT), instead of a COUNT query that filters (or
    searches) the catalogue a second time. A count known beforehand (`count=`: the
    unfiltered list's, per data version) is used as is; `count_in_page=False` keeps the
    COUNT query (when the rows are wide and many, see views._paginated_list). Past the last
    page, or for a page number Paginator would not take, it falls back to Paginator's own
    path (count, then the last page), so the pages are Paginator's.
    """

    def __init__(self, *args, count=None, count_in_page=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.count_in_page = count_in_page
        if count is not None:
            self.__dict__["count"] = count  # Paginator.count is a cached_property

    def get_page(self, number):
        if "count" in self.__dict__ or self.orphans or not self.count_in_page:
            return super().get_page(number)
        try:
            wanted = 1 if number is None else int(number)
        except (TypeError, ValueError):
            wanted = 1  # Paginator: not an integer -> the first page
        if wanted < 1:
            return super().get_page(number)  # Paginator: the last page
        bottom = (wanted - 1) * self.per_page
        counted = self.object_list.annotate(_results_count=Window(Count("*")))
        rows = list(counted[bottom : bottom + self.per_page])
        if rows:
            self.__dict__["count"] = rows[0]._results_count
        elif wanted == 1:
            self.__dict__["count"] = 0
        else:
            return super().get_page(number)
        return self._get_page(rows, wanted, self)

    current = 1

    @property
    def page_range(self):
        last, current = self.num_pages, self.current
        return sorted({1, last, *range(max(1, current - 2), min(last, current + 2) + 1)})
